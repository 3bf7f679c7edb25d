"""Races on PostgreSQL with real threads and connections: charges, confidence updates, approvals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from atom.errors import ConflictError
from governance.models import ActionExecution, Agent, Maturity, Proposal, ProposalStatus
from governance.services.budget import agent_budget_charge
from governance.services.decision import action_map_seed
from governance.services.maturity import agent_confidence_update
from governance.services.proposals import proposal_approve, proposal_create
from governance.tests.factories import make_agent, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 25  # each holds its own connection; stay well under max_connections


def _race(count: int, job: Callable[[int], Any]) -> list[Any]:
    """Run ``job`` ``count`` times on WORKERS threads released together; each thread closes its connection."""
    barrier = threading.Barrier(min(count, WORKERS))

    def run(index: int) -> Any:
        try:
            if index < WORKERS:
                barrier.wait(timeout=30)
            return job(index)
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, range(count)))


def test_200_concurrent_charges_against_a_budget_for_100_leave_exactly_zero():
    agent = make_agent(budget=Decimal("100.00"), daily_spend_cap=Decimal("1000.00"))
    results = _race(200, lambda _: agent_budget_charge(agent_id=agent.pk, cost=Decimal("1.00")))
    assert results.count(True) == 100
    assert results.count(False) == 100
    agent.refresh_from_db()
    assert agent.budget == Decimal("0.00")
    assert agent.spent_today == Decimal("100.00")


def test_the_daily_cap_holds_under_concurrency():
    agent = make_agent(budget=Decimal("1000.00"), daily_spend_cap=Decimal("10.00"))
    results = _race(60, lambda _: agent_budget_charge(agent_id=agent.pk, cost=Decimal("0.50")))
    assert results.count(True) == 20
    agent.refresh_from_db()
    assert agent.budget == Decimal("990.00")


def test_50_concurrent_confidence_updates_lose_nothing():
    agent = make_agent(maturity=Maturity.STUDENT, confidence=Decimal("0.0000"))
    results = _race(50, lambda _: agent_confidence_update(agent_id=agent.pk, delta=Decimal("0.01")))
    assert not [result for result in results if isinstance(result, Exception)]
    agent.refresh_from_db()
    assert agent.confidence == Decimal("0.5000")
    assert agent.maturity == Maturity.STUDENT


def test_concurrent_decreases_demote_exactly_once():
    agent = make_agent(maturity=Maturity.AUTONOMOUS, confidence=Decimal("1.0000"))
    _race(30, lambda _: agent_confidence_update(agent_id=agent.pk, delta=Decimal("-0.02")))
    agent.refresh_from_db()
    assert agent.confidence == Decimal("0.4000")
    assert agent.maturity == Maturity.STUDENT


def test_two_concurrent_approvals_exactly_one_wins():
    action_map_seed()  # approval decides again on the map, which an earlier test's flush emptied
    agent = make_agent(maturity=Maturity.INTERN)
    reviewer = agent.owner
    # The second reviewer holds the approve permission: being staff alone grants no right to decide.
    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    proposal = proposal_create(agent=agent, actor=reviewer, action="send_email", complexity=3, params={}, cost=Decimal("1.00"))
    reviewers = [reviewer, staff]

    def approve(index: int) -> Any:
        return proposal_approve(proposal=Proposal.objects.get(pk=proposal.pk), reviewer=reviewers[index])

    results = _race(2, approve)
    assert sum(1 for result in results if isinstance(result, ConflictError)) == 1
    assert sum(1 for result in results if isinstance(result, Proposal)) == 1
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.EXECUTED
    assert ActionExecution.objects.count() == 1
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("99.00")
