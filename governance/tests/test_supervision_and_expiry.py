"""Supervision records and the periodic expiry of proposals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from atom.errors import ConflictError
from governance import tasks
from governance.models import Maturity, Proposal, ProposalStatus, SupervisionSession, SupervisionStatus
from governance.services.actions import agent_action_request
from governance.services.proposals import proposal_create, supervision_close
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_a_supervised_action_opens_a_record_that_closes_once(staff_user):
    agent = make_agent(maturity=Maturity.SUPERVISED)
    outcome = agent_action_request(actor=agent.owner, agent_id=agent.pk, action="send_email", params={"to": "x"}, cost=Decimal("0"))
    assert outcome.decision == "supervised"
    session = SupervisionSession.objects.get()
    assert (session.status, session.execution_id) == (SupervisionStatus.OPEN, outcome.execution.pk if outcome.execution else None)
    supervision_close(session=session, supervisor=staff_user, interventions=1, notes="looked fine")
    assert SupervisionSession.objects.get().status == SupervisionStatus.CLOSED
    with pytest.raises(ConflictError):
        supervision_close(session=session, supervisor=staff_user)


def test_the_expiry_task_expires_only_overdue_pending_proposals():
    agent = make_agent(maturity=Maturity.INTERN)
    overdue = proposal_create(agent=agent, actor=agent.owner, action="create", complexity=3, params={}, cost=Decimal("0"))
    fresh = proposal_create(agent=agent, actor=agent.owner, action="create", complexity=3, params={}, cost=Decimal("0"))
    Proposal.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert tasks.proposals_expire() == 1
    assert tasks.proposals_expire() == 0
    assert Proposal.objects.get(pk=overdue.pk).status == ProposalStatus.EXPIRED
    assert Proposal.objects.get(pk=fresh.pk).status == ProposalStatus.PENDING
