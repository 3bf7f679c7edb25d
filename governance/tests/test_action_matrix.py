"""The full matrix through the API: every tier, every action of the seeded map, owner and other owner."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.models import ActionExecution, ActionPolicy, AuditEntry, Decision, Maturity, Proposal, SupervisionSession
from governance.services.decision import NOT_PROPOSABLE, SEED_ACTIONS
from governance.tests.factories import make_agent, make_canvas

pytestmark = pytest.mark.django_db

RANK: dict[str, int] = {Maturity.STUDENT: 1, Maturity.INTERN: 2, Maturity.SUPERVISED: 3, Maturity.AUTONOMOUS: 4}
SEEDED = [(name, complexity) for complexity, names in SEED_ACTIONS.items() for name in names]


def expected(tier: str, action: str, required: int) -> tuple[int, str]:
    """SPEC section 3's table, written out independently of the service."""
    rank = RANK[tier]
    if required <= rank:
        return (202, Decision.SUPERVISED) if rank == 3 and required == 3 else (200, Decision.EXECUTE)
    if (tier == Maturity.INTERN and required == 3) or (tier == Maturity.SUPERVISED and required == 4):
        return (403, Decision.BLOCKED) if action in NOT_PROPOSABLE else (202, Decision.PROPOSAL)
    return 403, Decision.BLOCKED


def test_the_seeded_map_holds_every_action_of_the_spec():
    assert dict(ActionPolicy.objects.values_list("name", "complexity")) == dict(SEEDED)
    assert ActionPolicy.objects.get(name="canvas_execute_javascript").proposable is False


@pytest.mark.parametrize("tier", list(RANK))
def test_every_action_for_every_tier_gets_exactly_the_spec_decision(tier, client_for, other_user):
    agent = make_agent(maturity=tier, budget=Decimal("1000.00"), daily_spend_cap=Decimal("1000.00"))
    canvas = make_canvas(agent=agent)
    owner_client, other_client = client_for(agent.owner), client_for(other_user)
    params = {
        "canvas_id": canvas.pk,
        "title": "t",
        "content": "hello",
        "data": {"x": [1]},
        "schema": {"type": "object"},
        "code": "console.log(1)",
    }
    for action, required in SEEDED:
        audit_before = AuditEntry.objects.count()
        executions_before = ActionExecution.objects.count()
        proposals_before = Proposal.objects.count()
        budget_before = type(agent).objects.get(pk=agent.pk).budget

        foreign = other_client.post(
            f"/api/v1/agents/{agent.pk}/actions/", {"action": action, "params": params, "cost": "1.00"}, format="json"
        )
        assert foreign.status_code == 404, action
        assert AuditEntry.objects.count() == audit_before + 1
        assert AuditEntry.objects.latest("id").outcome == Decision.NOT_FOUND

        status, outcome = expected(tier, action, required)
        response = owner_client.post(
            f"/api/v1/agents/{agent.pk}/actions/", {"action": action, "params": params, "cost": "1.00"}, format="json"
        )
        assert response.status_code == status, (tier, action, response.json())
        entry = AuditEntry.objects.latest("id")
        assert AuditEntry.objects.count() == audit_before + 2
        assert (entry.outcome, entry.action, entry.complexity, entry.maturity, entry.actor_id) == (
            outcome,
            action,
            required,
            tier,
            agent.owner_id,
        )
        budget_after = type(agent).objects.get(pk=agent.pk).budget
        if outcome in (Decision.EXECUTE, Decision.SUPERVISED):
            assert response.json()["decision"] == outcome
            assert ActionExecution.objects.count() == executions_before + 1
            assert budget_after == budget_before - Decimal("1.00")
        else:
            assert ActionExecution.objects.count() == executions_before, action
            assert budget_after == budget_before
        if outcome == Decision.BLOCKED:
            assert response.json()["error"]["code"] == "MATURITY_INSUFFICIENT"
        assert Proposal.objects.count() == proposals_before + (1 if outcome == Decision.PROPOSAL else 0)
    if tier == Maturity.SUPERVISED:
        assert SupervisionSession.objects.filter(agent=agent).count() == sum(1 for _, required in SEEDED if required == 3)


@pytest.mark.parametrize("state", ["paused", "stopped"])
def test_paused_and_stopped_agents_are_refused_everything(state, client_for):
    agent = make_agent(maturity=Maturity.AUTONOMOUS, state=state)
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AGENT_INACTIVE"
    assert AuditEntry.objects.get().outcome == Decision.INACTIVE
    assert not ActionExecution.objects.exists()


def test_an_unknown_action_is_denied_by_default(client_for):
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "rm_rf"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ACTION_UNKNOWN"
    assert AuditEntry.objects.get().outcome == Decision.UNKNOWN_ACTION


def test_action_names_match_on_the_lower_cased_name(client_for):
    agent = make_agent()
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "ReAd"}, format="json")
    assert response.status_code == 200
    assert response.json()["execution"]["action"] == "read"


def test_an_action_atom_cannot_perform_is_recorded_with_its_params_not_faked(client_for):
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    response = client_for(agent.owner).post(
        f"/api/v1/agents/{agent.pk}/actions/", {"action": "deploy", "params": {"env": "prod"}}, format="json"
    )
    execution = response.json()["execution"]
    assert (execution["status"], execution["params"], execution["result"]) == ("recorded", {"env": "prod"}, None)
