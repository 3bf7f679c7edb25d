"""The append-only audit log: one row per governance decision, allowed or not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from atom.dbinsert import row_append
from atom.errors import DomainError
from governance.models import (
    Agent,
    AuditEntry,
    Decision,
)

ZERO = Decimal("0")


# --- Audit -------------------------------------------------------------------------------------


def audit_record(**fields: Any) -> AuditEntry:
    """Append one audit row (the keywords of :func:`audit_entry_build`): the agent's tier and confidence
    at decision time, the outcome and why.

    Every governed request writes one, so it goes through the prepared INSERT of ``row_append``.
    """
    entry = audit_entry_build(**fields)
    row_append(entry)
    return entry


def audit_entry_build(
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
    """The audit row :func:`audit_record` writes, not yet written (see :meth:`AuditTrail.grant`)."""
    return AuditEntry(
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


@dataclass
class AuditTrail:
    """The single audit row of one governed request, filled in as the request learns its agent and action."""

    actor: Any
    action: str
    cost: Decimal = ZERO
    request_id: str = ""
    agent: Agent | None = None
    complexity: int | None = None
    entry: AuditEntry | None = None

    def record(self, *, outcome: str, reason: str, agent: Agent | None = None) -> AuditEntry:
        """Write the request's row; a second one for the same request is a programming error."""
        return row_append(self.grant(outcome=outcome, reason=reason, agent=agent))  # type: ignore[return-value]

    def grant(self, *, outcome: str, reason: str, agent: Agent | None = None) -> AuditEntry:
        """The request's row, built but not written: the caller writes it in the same statement as the act
        it allows (``atom.readlog``), so that the row and the act are stored together or not at all."""
        return self.claim(self.draft(outcome=outcome, reason=reason, agent=agent))

    def draft(self, *, outcome: str, reason: str, agent: Agent | None = None) -> AuditEntry:
        """A row this request could write, built but neither written nor claimed: a caller whose write
        decides between outcomes (``atom.guarded``) drafts each and claims the one written."""
        return audit_entry_build(
            agent=agent if agent is not None else self.agent,
            actor=self.actor,
            action=self.action,
            verdict_outcome=outcome,
            reason=reason,
            complexity=self.complexity,
            cost=self.cost,
            request_id=self.request_id,
        )

    def claim(self, entry: AuditEntry) -> AuditEntry:
        """Make ``entry`` the request's row; a second one for the same request is a programming error."""
        if self.entry is not None:
            raise RuntimeError(f"A second audit row for one {self.action!r} request.")
        self.entry = entry
        return entry


@contextmanager
def audited(*, actor: Any, action: str, cost: Decimal = ZERO, request_id: str = "") -> Iterator[AuditTrail]:
    """A governed request that cannot end without exactly one audit row.

    A refusal (a DomainError) that no branch recorded is recorded as FAILED with its message; a request
    that returns without a row fails loudly, so a new path cannot silently skip the audit.
    """
    trail = AuditTrail(actor=actor, action=action, cost=cost, request_id=request_id)
    try:
        yield trail
    except DomainError as exc:
        if trail.entry is None:
            trail.record(outcome=Decision.FAILED, reason=exc.message)
        raise
    if trail.entry is None:
        raise RuntimeError(f"The {action!r} request ended without its audit row.")
