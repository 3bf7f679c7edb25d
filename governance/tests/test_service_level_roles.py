"""The services hold the same rules as the edges in front of them, so that a new caller (a task, a command, a
future route) cannot bypass them. Expected to fail until the services, being restructured, take the change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from atom.errors import DomainError
from episodes.services.ingestion import InteractionInput, interactions_ingest
from governance.models import AgentState, Maturity, Proposal, ProposalStatus
from governance.services.maturity import agent_state_set
from governance.services.proposals import proposal_approve, proposal_create
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def pending_proposal() -> Proposal:
    agent = make_agent(maturity=Maturity.INTERN)
    return proposal_create(agent=agent, actor=agent.owner, action="create", complexity=3, params={}, cost=Decimal("0"))


def test_staff_without_the_approve_permission_cannot_approve_through_the_service(django_user_model):
    proposal = pending_proposal()
    staff = django_user_model.objects.create_user("staff", password="correct horse battery staple", is_staff=True)
    with pytest.raises(DomainError):
        proposal_approve(proposal=proposal, reviewer=staff, reason="no permission")
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING


def test_a_holder_of_the_approve_permission_approves_through_the_api(django_user_model, client_for):
    proposal = pending_proposal()
    reviewer = django_user_model.objects.create_user("reviewer", password="correct horse battery staple")
    reviewer.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    response = client_for(reviewer).post(f"/api/v1/proposals/{proposal.pk}/approve/", {"reason": "fine"}, format="json")
    assert response.status_code == 200, response.content


def test_the_ingest_service_refuses_a_paused_agent_acting_for_itself():
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    agent_state_set(agent_id=agent.pk, state=AgentState.PAUSED)
    item = InteractionInput(session_id="s-1", role="agent", content="x", timestamp=timezone.now() - timedelta(minutes=1))
    with pytest.raises(DomainError):
        interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=[item], acting_agent_id=agent.pk)
