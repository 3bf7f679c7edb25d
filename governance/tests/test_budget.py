"""Budget charges: one conditional UPDATE, the daily cap, BUDGET_EXCEEDED runs and charges nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import ActionExecution, Agent, AuditEntry, Decision
from governance.services.budget import agent_budget_charge
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_a_charge_within_budget_and_cap_succeeds():
    agent = make_agent(budget=Decimal("5.00"), daily_spend_cap=Decimal("10.00"))
    assert agent_budget_charge(agent_id=agent.pk, cost=Decimal("2.50"))
    agent.refresh_from_db()
    assert (agent.budget, agent.spent_today) == (Decimal("2.50"), Decimal("2.50"))


def test_a_charge_beyond_the_balance_fails_and_changes_nothing():
    agent = make_agent(budget=Decimal("1.00"))
    assert not agent_budget_charge(agent_id=agent.pk, cost=Decimal("1.01"))
    agent.refresh_from_db()
    assert agent.budget == Decimal("1.00")


def test_the_daily_cap_holds_and_resets_the_next_day():
    agent = make_agent(budget=Decimal("100.00"), daily_spend_cap=Decimal("10.00"))
    day = date(2026, 1, 1)
    assert agent_budget_charge(agent_id=agent.pk, cost=Decimal("6.00"), today=day)
    assert not agent_budget_charge(agent_id=agent.pk, cost=Decimal("4.01"), today=day)
    assert agent_budget_charge(agent_id=agent.pk, cost=Decimal("4.00"), today=day)
    assert agent_budget_charge(agent_id=agent.pk, cost=Decimal("9.00"), today=date(2026, 1, 2))
    agent.refresh_from_db()
    assert (agent.budget, agent.spent_today) == (Decimal("81.00"), Decimal("9.00"))


def test_the_check_constraint_backs_the_guard():
    agent = make_agent(budget=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(budget=Decimal("-0.01"))


def test_budget_exceeded_through_the_api_runs_nothing_and_keeps_the_balance(client_for):
    agent = make_agent(budget=Decimal("0.50"))
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "cost": "1.00"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "BUDGET_EXCEEDED"
    agent.refresh_from_db()
    assert agent.budget == Decimal("0.50")
    assert not ActionExecution.objects.exists()
    assert AuditEntry.objects.get().outcome == Decision.BUDGET_EXCEEDED


@pytest.mark.parametrize("cost", ["-1", "abc", "1.001", "1e400"])
def test_a_bad_cost_is_a_validation_error(cost, client_for):
    agent = make_agent()
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "cost": cost}, format="json")
    assert response.status_code == 400
    assert not AuditEntry.objects.exists()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budget=st.decimals(min_value=0, max_value=50, places=2),
    costs=st.lists(st.decimals(min_value=0, max_value=20, places=2), max_size=15),
)
def test_charges_never_leave_a_negative_balance(budget, costs):
    agent = make_agent(budget=budget, daily_spend_cap=Decimal("30.00"))
    expected = budget
    spent = Decimal(0)
    for cost in costs:
        ok = agent_budget_charge(agent_id=agent.pk, cost=cost, today=date(2026, 1, 1))
        assert ok == (cost <= expected and spent + cost <= Decimal("30.00"))
        if ok:
            expected -= cost
            spent += cost
    agent.refresh_from_db()
    assert agent.budget == expected >= 0
