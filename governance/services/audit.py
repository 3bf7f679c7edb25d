"""The append-only audit log: one row per governance decision, allowed or not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from governance.models import (
    Agent,
    AuditEntry,
)

ZERO = Decimal("0")


# --- Audit -------------------------------------------------------------------------------------


def audit_record(
    *,
    agent: Agent | None,
    actor: Any,
    action: str,
    verdict_outcome: str,
    reason: str,
    complexity: int | None = None,
    cost: Decimal = ZERO,
    request_id: str = "",
) -> AuditEntry:
    """Append one audit row: the agent's tier and confidence at decision time, the outcome and why."""
    return AuditEntry.objects.create(
        agent=agent,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action[:100],
        complexity=complexity,
        maturity=agent.maturity if agent is not None else "",
        confidence=agent.confidence if agent is not None else None,
        outcome=verdict_outcome,
        reason=reason[:300],
        cost=cost,
        request_id=request_id[:64],
    )
