"""The operator's console: actions go through services, the audit log is read-only and never counted in full."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from governance.models import (
    ActionExecution,
    ActionMapVersion,
    ActionPolicy,
    Agent,
    AgentState,
    AuditEntry,
    Decision,
    Maturity,
    MaturityChange,
    Proposal,
)
from governance.tests.factories import make_agent, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in() -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _act(client, model, action, ids, **extra):
    return client.post(f"/admin/governance/{model}/", {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids], **extra})


def test_the_agent_list_shows_tier_badges(admin_client_logged_in):
    make_agent(maturity=Maturity.SUPERVISED)
    response = admin_client_logged_in.get("/admin/governance/agent/")
    assert response.status_code == 200
    assert b"SUPERVISED</span>" in response.content


def test_pause_and_resume_go_through_the_service(admin_client_logged_in):
    agent = make_agent()
    _act(admin_client_logged_in, "agent", "pause", [agent.pk])
    assert Agent.objects.get(pk=agent.pk).state == AgentState.PAUSED
    _act(admin_client_logged_in, "agent", "resume", [agent.pk])
    assert Agent.objects.get(pk=agent.pk).state == AgentState.ACTIVE


def test_promotion_asks_for_a_reason_and_records_it(admin_client_logged_in):
    agent = make_agent()
    form = _act(admin_client_logged_in, "agent", "promote", [agent.pk])
    assert form.status_code == 200
    assert b"reason" in form.content
    assert Agent.objects.get(pk=agent.pk).maturity == Maturity.STUDENT
    _act(admin_client_logged_in, "agent", "promote", [agent.pk], apply="1", reason="Passed a manual review")
    assert Agent.objects.get(pk=agent.pk).maturity == Maturity.INTERN
    assert MaturityChange.objects.get().reason == "Passed a manual review"
    _act(admin_client_logged_in, "agent", "demote", [agent.pk], apply="1", reason="Back to school")
    assert Agent.objects.get(pk=agent.pk).maturity == Maturity.STUDENT


def test_maturity_cannot_be_edited_in_the_form(admin_client_logged_in):
    agent = make_agent()
    page = admin_client_logged_in.get(f"/admin/governance/agent/{agent.pk}/change/")
    assert b'name="maturity"' not in page.content
    assert b'name="confidence"' not in page.content


def test_editing_the_action_map_invalidates_cached_decisions(admin_client_logged_in):
    version = ActionMapVersion.objects.get().version
    policy = ActionPolicy.objects.get(name="read")
    response = admin_client_logged_in.post(
        f"/admin/governance/actionpolicy/{policy.pk}/change/", {"name": "read", "complexity": 2, "proposable": "on", "description": ""}
    )
    assert response.status_code == 302
    assert ActionPolicy.objects.get(name="read").complexity == 2
    assert ActionMapVersion.objects.get().version == version + 1


def test_an_operator_sees_an_interns_proposal_approves_it_and_sees_execution_and_audit(admin_client_logged_in, client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "send_message", "params": {"to": "x"}}, format="json")
    proposal = Proposal.objects.get()
    assert b"send_message" in admin_client_logged_in.get("/admin/governance/proposal/").content
    _act(admin_client_logged_in, "proposal", "approve", [proposal.pk])
    assert Proposal.objects.get().status == "executed"
    assert b"send_message" in admin_client_logged_in.get("/admin/governance/actionexecution/").content
    assert ActionExecution.objects.get().proposal_id == proposal.pk
    audit = admin_client_logged_in.get("/admin/governance/auditentry/")
    assert audit.status_code == 200
    assert list(AuditEntry.objects.order_by("id").values_list("outcome", flat=True)) == [Decision.PROPOSAL, Decision.APPROVED]


def test_the_audit_log_is_read_only_and_never_counted_in_full(admin_client_logged_in):
    agent = make_agent()
    AuditEntry.objects.bulk_create(AuditEntry(agent=agent, action="read", outcome=Decision.EXECUTE) for _ in range(30))
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_logged_in.get("/admin/governance/auditentry/", {"outcome__exact": "execute"})
    assert response.status_code == 200
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper() and "governance_auditentry" in query["sql"]]
    assert counts == []
    entry = AuditEntry.objects.earliest("id")
    assert admin_client_logged_in.post(f"/admin/governance/auditentry/{entry.pk}/change/", {"outcome": "blocked"}).status_code == 403
    assert admin_client_logged_in.post(f"/admin/governance/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.count() == 30


INLINE = {"maturity_changes-TOTAL_FORMS": "0", "maturity_changes-INITIAL_FORMS": "0"}


def test_an_operator_creates_and_funds_an_agent_through_the_services(admin_client_logged_in):
    owner = make_user()
    response = admin_client_logged_in.post(
        "/admin/governance/agent/add/",
        {
            "owner": owner.pk,
            "name": "ops-made",
            "category": "",
            "capabilities": "[]",
            "budget": "25.00",
            "daily_spend_cap": "5.00",
            **INLINE,
        },
    )
    assert response.status_code == 302
    agent = Agent.objects.get(name="ops-made")
    assert (agent.maturity, str(agent.confidence), str(agent.budget), str(agent.daily_spend_cap)) == (
        Maturity.STUDENT,
        "0.4000",
        "25.00",
        "5.00",
    )
    response = admin_client_logged_in.post(
        f"/admin/governance/agent/{agent.pk}/change/",
        {
            "owner": owner.pk,
            "name": "renamed",
            "category": "x",
            "capabilities": "[]",
            "budget": "30.00",
            "daily_spend_cap": "5.00",
            **INLINE,
        },
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.name, str(agent.budget)) == ("renamed", "30.00")


def test_the_audit_list_costs_the_same_queries_for_ten_rows_or_a_hundred(admin_client_logged_in):
    agents = [make_agent() for _ in range(5)]

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client_logged_in.get("/admin/governance/auditentry/").status_code == 200
        return len(queries)

    AuditEntry.objects.bulk_create(AuditEntry(agent=agents[i % 5], action="read", outcome=Decision.EXECUTE) for i in range(10))
    few = page_queries()
    AuditEntry.objects.bulk_create(AuditEntry(agent=agents[i % 5], action="read", outcome=Decision.BLOCKED) for i in range(90))
    assert page_queries() == few


def test_the_proposal_list_shows_tier_and_status_badges_and_links_the_execution(admin_client_logged_in, client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "send_message", "params": {"to": "x"}}, format="json")
    proposal = Proposal.objects.get()
    page = admin_client_logged_in.get("/admin/governance/proposal/").content.decode()
    assert "INTERN</span>" in page
    assert "Pending</span>" in page
    response = _act(admin_client_logged_in, "proposal", "approve", [proposal.pk])
    execution = ActionExecution.objects.get()
    assert response.status_code == 302
    page = admin_client_logged_in.get("/admin/governance/proposal/").content.decode()
    assert f'/admin/governance/actionexecution/{execution.pk}/change/"' in page
    assert "Executed</span>" in page
