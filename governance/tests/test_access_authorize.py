"""agent_access_authorize: the decision other apps ask for before they act on an agent's behalf."""

from __future__ import annotations

import pytest

from atom.errors import DomainError, ForbiddenError, NotFoundError
from governance.models import AgentOutcome, AgentState, AuditEntry, Decision, Maturity
from governance.services.actions import agent_access_authorize
from governance.services.maturity import agent_outcome_record
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_it_returns_the_agent_for_an_action_within_its_tier():
    agent = make_agent(maturity=Maturity.STUDENT)
    assert agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="memory_search", request_id="req-1").pk == agent.pk
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.action, entry.complexity, entry.maturity, entry.request_id) == (
        Decision.EXECUTE,
        "memory_search",
        1,
        Maturity.STUDENT,
        "req-1",
    )


def test_it_rejects_foreign_agent(other_user):
    agent = make_agent()
    with pytest.raises(NotFoundError):
        agent_access_authorize(actor=other_user, agent_id=agent.pk, action="memory_search")
    assert AuditEntry.objects.get().outcome == Decision.NOT_FOUND


def test_it_rejects_a_missing_agent(user):
    with pytest.raises(NotFoundError):
        agent_access_authorize(actor=user, agent_id=987654, action="memory_search")
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("state", [AgentState.PAUSED, AgentState.STOPPED])
def test_it_refuses_inactive_agents(state):
    agent = make_agent(state=state)
    with pytest.raises(ForbiddenError) as caught:
        agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="memory_search")
    assert caught.value.code == "AGENT_INACTIVE"


def test_it_refuses_unknown_actions():
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    with pytest.raises(DomainError) as caught:
        agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="launch_missiles")
    assert (caught.value.code, caught.value.status_code) == ("ACTION_UNKNOWN", 403)


@pytest.mark.parametrize(
    ("tier", "action"), [(Maturity.STUDENT, "semantic_search"), (Maturity.INTERN, "create"), (Maturity.SUPERVISED, "create")]
)
def test_it_refuses_what_would_need_a_proposal_or_supervision(tier, action):
    agent = make_agent(maturity=tier)
    with pytest.raises(ForbiddenError) as caught:
        agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action=action)
    assert caught.value.code == "MATURITY_INSUFFICIENT"
    assert AuditEntry.objects.get().outcome == Decision.BLOCKED


def test_semantic_search_is_allowed_from_intern_up():
    agent = make_agent(maturity=Maturity.INTERN)
    agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="Semantic_Search")


def test_outcome_recording_is_idempotent_on_the_reference():
    agent = make_agent()
    for _ in range(2):
        agent_outcome_record(agent_id=agent.pk, reference="episode-1", success=True, interventions=0, constitutional_score=0.9)
    assert AgentOutcome.objects.filter(agent=agent).count() == 1
