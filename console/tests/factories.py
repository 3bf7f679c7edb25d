"""Data spanning the apps, for the dashboard's tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from bugs.models import Bug
from bugs.tests.factories import SuiteFactory, make_bug, make_run
from governance.models import AuditEntry, Decision, Maturity, Proposal
from governance.tests.factories import make_agent


def dashboard_data_fill(size: int) -> None:
    """``size`` of everything the dashboard shows, spread over the last days."""
    now = timezone.now()
    agents = [make_agent(maturity=tier) for tier in Maturity.values for _ in range(max(size // 4, 1))]
    for index in range(size):
        discovered = now - timedelta(days=index % 20, hours=1)
        bug = make_bug(severity=f"P{index % 4}", discovered_at=discovered, sla_due_at=discovered + timedelta(days=3))
        if index % 3 == 0:
            Bug.objects.filter(pk=bug.pk).update(status="wont_fix", resolved_at=discovered + timedelta(days=1))
    suite = SuiteFactory(name="atom")
    for index in range(size):
        make_run(suite=suite, status="passed" if index % 3 else "failed", passed=10 - index % 4, failed=index % 4, total=10, done=10)
    agent = agents[0]
    outcomes = [Decision.EXECUTE, Decision.EXECUTE, Decision.BLOCKED, Decision.PROPOSAL, Decision.BUDGET_EXCEEDED]
    AuditEntry.objects.bulk_create(
        AuditEntry(agent=agent, action="read", outcome=outcomes[index % len(outcomes)]) for index in range(size * 5)
    )
    Proposal.objects.bulk_create(
        Proposal(agent=agent, requested_by=agent.owner, action="send_email", complexity=3, expires_at=now + timedelta(hours=2))
        for _ in range(size)
    )
