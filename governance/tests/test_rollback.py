"""An exception inside a multi-row write rolls everything back: no charge, no half-decided proposal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.models import ActionExecution, Agent, Maturity, Proposal, ProposalStatus
from governance.services import actions, proposals
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _explode(**kwargs):
    raise RuntimeError("disk on fire")


def test_a_crash_while_executing_leaves_the_budget_untouched(monkeypatch):
    agent = make_agent(budget=Decimal("10.00"))
    monkeypatch.setattr(actions, "action_perform", _explode)
    with pytest.raises(RuntimeError):
        actions.agent_action_request(actor=agent.owner, agent_id=agent.pk, action="read", params={}, cost=Decimal("1.00"))
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("10.00")
    assert not ActionExecution.objects.exists()


@pytest.mark.regression("BUG-016")
def test_a_crash_while_executing_an_approved_proposal_leaves_it_pending(monkeypatch):
    agent = make_agent(maturity=Maturity.INTERN)
    proposal = proposals.proposal_create(agent=agent, actor=agent.owner, action="send_email", complexity=3, params={}, cost=Decimal("1.00"))
    monkeypatch.setattr(proposals, "action_perform", _explode)
    with pytest.raises(RuntimeError):
        proposals.proposal_approve(proposal=proposal, reviewer=agent.owner)
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("100.00")
    monkeypatch.undo()
    assert proposals.proposal_approve(proposal=proposal, reviewer=agent.owner).status == ProposalStatus.EXECUTED
