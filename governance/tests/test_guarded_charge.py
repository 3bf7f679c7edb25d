"""A recorded action's charge, execution row and audit row are one write (atom.guarded): all or nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError

from governance.models import ActionExecution, Agent, AuditEntry, Decision, ExecutionStatus, Maturity
from governance.services.actions import agent_action_request
from governance.services.budget import agent_budget_charge_written
from governance.services.decision import action_map_seed
from governance.tests.factories import make_agent


def _rows(agent, actor_id=None, outcome=Decision.EXECUTE):
    execution = ActionExecution(agent=agent, actor_id=actor_id or agent.owner_id, action="read", cost=Decimal("2.00"), status="recorded")
    audit = AuditEntry(agent=agent, actor_id=agent.owner_id, action="read", outcome=outcome, cost=Decimal("2.00"))
    return execution, audit


@pytest.mark.django_db
def test_a_charge_that_holds_writes_the_charged_rows_only():
    agent = make_agent(budget=Decimal("10.00"))
    execution, allowed = _rows(agent)
    _, refused = _rows(agent, outcome=Decision.BUDGET_EXCEEDED)
    assert agent_budget_charge_written(agent_id=agent.pk, cost=Decimal("2.00"), charged=[execution, allowed], refused=[refused])
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("8.00")
    assert list(ActionExecution.objects.values_list("pk", flat=True)) == [execution.pk]
    assert list(AuditEntry.objects.values_list("pk", "outcome")) == [(allowed.pk, Decision.EXECUTE)]
    assert refused.pk is None


@pytest.mark.django_db
def test_a_charge_that_does_not_hold_writes_the_refused_rows_only():
    agent = make_agent(budget=Decimal("1.00"))
    execution, allowed = _rows(agent)
    _, refused = _rows(agent, outcome=Decision.BUDGET_EXCEEDED)
    assert not agent_budget_charge_written(agent_id=agent.pk, cost=Decimal("2.00"), charged=[execution, allowed], refused=[refused])
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("1.00")
    assert not ActionExecution.objects.exists()
    assert list(AuditEntry.objects.values_list("pk", "outcome")) == [(refused.pk, Decision.BUDGET_EXCEEDED)]
    assert (execution.pk, allowed.pk) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_a_row_that_cannot_be_written_undoes_the_charge_and_writes_nothing():
    # No test transaction around the call: what is left is what a real request would commit. The
    # execution names a user that does not exist, which the database refuses when it commits.
    agent = make_agent(budget=Decimal("10.00"))
    execution, allowed = _rows(agent, actor_id=10**9)
    _, refused = _rows(agent, outcome=Decision.BUDGET_EXCEEDED)
    with pytest.raises(IntegrityError):
        agent_budget_charge_written(agent_id=agent.pk, cost=Decimal("2.00"), charged=[execution, allowed], refused=[refused])
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("10.00")
    assert not ActionExecution.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_free_action_writes_its_rows_without_charging():
    agent = make_agent(budget=Decimal("0.00"))
    execution, allowed = _rows(agent)
    assert agent_budget_charge_written(agent_id=agent.pk, cost=Decimal("0"), charged=[execution, allowed], refused=[])
    assert ActionExecution.objects.get().pk == execution.pk
    assert AuditEntry.objects.get().pk == allowed.pk


@pytest.mark.django_db
def test_the_action_route_answers_with_the_rows_it_wrote(client_for):
    action_map_seed()
    agent = make_agent(maturity=Maturity.AUTONOMOUS, budget=Decimal("5.00"), daily_spend_cap=Decimal("100.00"))
    client = client_for(agent.owner)
    body = {"action": "read", "params": {"q": "emoji 🚀, a quote ' and a backslash \\", "nested": [{"a": [1, 2]}]}, "cost": "3.00"}
    response = client.post(f"/api/v1/agents/{agent.pk}/actions/", body, format="json", HTTP_X_REQUEST_ID="req-guarded")
    assert response.status_code == 200
    answered = response.json()["execution"]
    stored = ActionExecution.objects.get()
    assert answered["id"] == stored.pk
    assert (stored.params, stored.status, stored.cost, stored.request_id) == (
        body["params"],
        ExecutionStatus.RECORDED,
        Decimal("3.00"),
        "req-guarded",
    )
    audit = AuditEntry.objects.get()
    assert (audit.outcome, audit.cost, audit.maturity, audit.request_id) == (
        Decision.EXECUTE,
        Decimal("3.00"),
        Maturity.AUTONOMOUS,
        "req-guarded",
    )
    # The second one does not fit the budget left (2.00): refused, audited, nothing executed or charged.
    refused = client.post(f"/api/v1/agents/{agent.pk}/actions/", body, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "BUDGET_EXCEEDED")
    assert ActionExecution.objects.count() == 1
    assert list(AuditEntry.objects.order_by("id").values_list("outcome", flat=True)) == [Decision.EXECUTE, Decision.BUDGET_EXCEEDED]
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("2.00")


@pytest.mark.django_db
def test_the_service_claims_exactly_one_audit_row_per_request():
    agent = make_agent(maturity=Maturity.AUTONOMOUS, budget=Decimal("1.00"))
    with pytest.raises(Exception, match="budget"):
        agent_action_request(actor=agent.owner, agent_id=agent.pk, action="read", params={}, cost=Decimal("5.00"))
    assert AuditEntry.objects.get().outcome == Decision.BUDGET_EXCEEDED
