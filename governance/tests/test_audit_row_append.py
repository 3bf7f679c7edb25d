"""The audit row's prepared INSERT stores exactly what the ORM would, and reads back the same."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import AuditEntry, Decision
from governance.services.audit import audit_record
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_an_audit_row_written_by_the_prepared_insert_reads_back_as_written():
    agent = make_agent(confidence=Decimal("0.8125"))
    before = timezone.now()

    entry = audit_record(
        agent=agent, actor=agent.owner, action="send_email", verdict_outcome=Decision.PROPOSAL, reason="One tier above.",
        complexity=3, cost=Decimal("12.50"), request_id="req-1",
    )  # fmt: skip

    stored = AuditEntry.objects.get()
    assert stored.pk == entry.pk
    assert (stored.agent_id, stored.actor_id, stored.action, stored.complexity) == (agent.pk, agent.owner.pk, "send_email", 3)
    assert (stored.maturity, stored.confidence, stored.outcome) == (agent.maturity, Decimal("0.8125"), Decision.PROPOSAL)
    assert (stored.reason, stored.cost, stored.request_id) == ("One tier above.", Decimal("12.50"), "req-1")
    assert before <= stored.created_at <= timezone.now() + timedelta(seconds=1)
    assert stored.created_at == entry.created_at


def test_an_audit_row_without_agent_or_user_stores_nulls():
    audit_record(agent=None, actor=None, action="read", verdict_outcome=Decision.NOT_FOUND, reason="No agent 7.")

    stored = AuditEntry.objects.get()
    assert (stored.agent_id, stored.actor_id, stored.confidence, stored.maturity) == (None, None, None, "")
    assert stored.cost == Decimal("0")
