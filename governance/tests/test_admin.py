"""The operator's console: actions go through services, the audit log is read-only and never counted in full."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

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
from governance.services.budget import agent_budget_charge
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


class _FormFields(HTMLParser):
    """What a browser would send back from a page's form: inputs, textareas and selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        name = attributes.get("name")
        if tag == "input" and name and attributes.get("type") not in {"submit", "button", "checkbox", "radio"}:
            self.data[name] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self.data[name] = name, ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attributes:
            self.data[self._select] = attributes.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _form_fields(page: bytes) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page.decode())
    return parser.data


@pytest.mark.regression("BUG-040")
def test_p2_integrity_admin_agent_edit_refunds_spending_regression(admin_client_logged_in):
    """BUG-040 (P2, integrity): an admin edit of an agent refunded the spending that happened while the
    form was open, and an owner change was silently ignored. save_model always set the budget from the
    form: opened at 100.00, charged 9.00, saved with only the name changed, the budget was back to 100.00
    (expected 91.00); the owner field was editable but never applied. Fix: the funds are set only when
    the budget or daily cap were changed in the form, and the owner is read-only once the agent exists
    (commit recorded in the catalog).
    """
    agent = make_agent(budget=Decimal("100.00"), daily_spend_cap=Decimal("10.00"))
    url = f"/admin/governance/agent/{agent.pk}/change/"
    page = admin_client_logged_in.get(url)
    assert page.status_code == 200
    form = _form_fields(page.content)
    assert agent_budget_charge(agent_id=agent.pk, cost=Decimal("9.00"))
    response = admin_client_logged_in.post(url, {**form, "name": "renamed", "owner": str(make_user().pk), "_save": "Save"})
    assert response.status_code == 302
    agent_after = Agent.objects.get(pk=agent.pk)
    assert (agent_after.name, agent_after.budget, agent_after.daily_spend_cap) == ("renamed", Decimal("91.00"), Decimal("10.00"))
    assert agent_after.owner_id == agent.owner_id
    assert b'name="owner"' not in page.content
    form = _form_fields(admin_client_logged_in.get(url).content)
    assert admin_client_logged_in.post(url, {**form, "daily_spend_cap": "20.00", "_save": "Save"}).status_code == 302
    agent_after = Agent.objects.get(pk=agent.pk)
    assert (agent_after.budget, agent_after.daily_spend_cap) == (Decimal("91.00"), Decimal("20.00"))
