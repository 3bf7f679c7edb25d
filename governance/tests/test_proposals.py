"""Proposals: created above the tier, decided once by a human, never by an agent principal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import ActionExecution, Agent, AuditEntry, Decision, Maturity, Proposal, ProposalStatus
from governance.services.proposals import proposals_expire
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _propose(client, agent, cost="2.00"):
    response = client.post(
        f"/api/v1/agents/{agent.pk}/actions/", {"action": "send_email", "params": {"to": "a@b.example"}, "cost": cost}, format="json"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["decision"] == "proposal"
    return response.json()["proposal"]["id"]


def test_an_intern_proposes_and_nothing_runs_until_approval(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client = client_for(agent.owner)
    proposal_id = _propose(client, agent)
    assert not ActionExecution.objects.exists()
    agent.refresh_from_db()
    assert agent.budget == Decimal("100.00")

    response = client.post(f"/api/v1/proposals/{proposal_id}/approve/", {"reason": "fine"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == ProposalStatus.EXECUTED
    execution = ActionExecution.objects.get()
    assert (execution.action, execution.params, execution.proposal_id) == ("send_email", {"to": "a@b.example"}, proposal_id)
    agent.refresh_from_db()
    assert agent.budget == Decimal("98.00")
    assert [entry.outcome for entry in AuditEntry.objects.order_by("id")] == [Decision.PROPOSAL, Decision.APPROVED]


def test_a_proposal_is_decided_at_most_once(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client = client_for(agent.owner)
    proposal_id = _propose(client, agent)
    assert client.post(f"/api/v1/proposals/{proposal_id}/reject/", {}, format="json").status_code == 200
    second = client.post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "PROPOSAL_ALREADY_DECIDED"
    assert not ActionExecution.objects.exists()


def test_a_token_acting_as_the_agent_may_never_approve(client_for, api_client):
    agent = make_agent(maturity=Maturity.INTERN)
    owner_client = client_for(agent.owner)
    agent_token = owner_client.post(f"/api/v1/agents/{agent.pk}/token/", {}, format="json").json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_token}")
    proposal_id = _propose(api_client, agent)

    for verb in ("approve", "reject"):
        response = api_client.post(f"/api/v1/proposals/{proposal_id}/{verb}/", {}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "SELF_APPROVAL_FORBIDDEN"
    assert Proposal.objects.get().status == ProposalStatus.PENDING


def test_an_agent_token_acts_for_its_own_agent_only(client_for, api_client):
    agent = make_agent(maturity=Maturity.INTERN)
    sibling = make_agent(owner=agent.owner)
    token = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/token/", {}, format="json").json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.post(f"/api/v1/agents/{sibling.pk}/actions/", {"action": "read"}, format="json").status_code == 404
    assert (
        api_client.post(f"/api/v1/agents/{agent.pk}/feedback/", {"positive": True, "high_impact": True}, format="json").status_code == 403
    )


def test_another_owner_cannot_see_or_decide_a_proposal(client_for, other_user):
    agent = make_agent(maturity=Maturity.INTERN)
    proposal_id = _propose(client_for(agent.owner), agent)
    intruder = client_for(other_user)
    assert intruder.get(f"/api/v1/proposals/{proposal_id}/").status_code == 404
    assert intruder.post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json").status_code == 404
    assert intruder.get("/api/v1/proposals/").json()["results"] == []


def test_staff_may_approve_any_proposal(client_for, staff_user):
    agent = make_agent(maturity=Maturity.SUPERVISED)
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "deploy"}, format="json")
    proposal_id = response.json()["proposal"]["id"]
    assert client_for(staff_user).post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json").json()["status"] == "executed"


def test_an_expired_proposal_cannot_be_approved(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client = client_for(agent.owner)
    proposal_id = _propose(client, agent)
    Proposal.objects.filter(pk=proposal_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json").status_code == 409
    assert Proposal.objects.get().status == ProposalStatus.EXPIRED
    assert proposals_expire() == 0


def test_approval_without_budget_fails_the_proposal_and_charges_nothing(client_for):
    agent = make_agent(maturity=Maturity.INTERN, budget=Decimal("1.00"))
    client = client_for(agent.owner)
    proposal_id = _propose(client, agent, cost="5.00")
    response = client.post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json")
    assert response.json()["status"] == ProposalStatus.FAILED
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("1.00")
    assert not ActionExecution.objects.exists()


def test_approval_of_a_paused_agents_proposal_runs_nothing(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client = client_for(agent.owner)
    proposal_id = _propose(client, agent)
    Agent.objects.filter(pk=agent.pk).update(state="paused")
    assert client.post(f"/api/v1/proposals/{proposal_id}/approve/", {}, format="json").json()["status"] == ProposalStatus.FAILED
    assert not ActionExecution.objects.exists()


def _demote_to_student(client, agent):
    body = {"positive": False, "high_impact": True, "guardrail_violation": True}
    response = client.post(f"/api/v1/agents/{agent.pk}/feedback/", body, format="json")
    assert response.json()["agent"]["maturity"] == Maturity.STUDENT, response.json()


def _drop_from_the_map(client, agent):
    from governance.models import ActionPolicy
    from governance.services.decision import action_policy_delete

    action_policy_delete(policy=ActionPolicy.objects.get(name="send_email"))


@pytest.mark.regression("BUG-036")
@pytest.mark.parametrize(
    ("agent_fields", "action", "change", "refusal"),
    [
        ({"maturity": Maturity.SUPERVISED, "confidence": Decimal("0.5500")}, "deploy", _demote_to_student, "MATURITY_INSUFFICIENT"),
        ({"maturity": Maturity.INTERN}, "send_email", _drop_from_the_map, "ACTION_UNKNOWN"),
    ],
    ids=["demoted", "action-unmapped"],
)
def test_p2_security_stale_proposal_approval_regression(agent_fields, action, change, refusal, client_for):
    """BUG-036 (P2, security): a proposal approved after its agent was demoted, or after its action left
    the action map, still ran and was charged: approval re-checked only the agent's state, so a STUDENT
    executed `deploy` (a direct `deploy` answered 403) and a deleted `send_email` still ran. Fix:
    approval decides again on the current agent and action map; unless that still allows the action or
    a proposal, the proposal fails with the reason, audited, and nothing runs or is charged (commit
    recorded in the catalog).
    """
    agent = make_agent(**agent_fields)
    client = client_for(agent.owner)
    proposed = client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": action, "cost": "2.00"}, format="json")
    assert proposed.json()["decision"] == "proposal", proposed.json()
    change(client, agent)
    direct = client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": action}, format="json")
    assert (direct.status_code, direct.json()["error"]["code"]) == (403, refusal)
    budget = Agent.objects.get(pk=agent.pk).budget

    response = client.post(f"/api/v1/proposals/{proposed.json()['proposal']['id']}/approve/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == ProposalStatus.FAILED
    assert Proposal.objects.get().failure_reason
    assert not ActionExecution.objects.exists()
    assert Agent.objects.get(pk=agent.pk).budget == budget
    last = AuditEntry.objects.latest("id")
    assert (last.action, last.outcome) == (action, Decision.FAILED)
