"""Bulk ingestion of interactions: validated batches appended to their sessions, segmentation enqueued on commit."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.db import transaction
from django.utils import timezone

from atom.dbinsert import rows_insert
from atom.errors import ConflictError, ForbiddenError
from episodes.models import (
    AgentSession,
    Interaction,
)
from governance.models import AgentState
from governance.selectors import agent_get_for_owner

# --- Ingestion ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InteractionInput:
    """One validated interaction of an ingestion batch."""

    session_id: str
    role: str
    content: str
    timestamp: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    """What an ingestion stored: how many interactions, and the sessions queued for segmentation."""

    accepted: int
    sessions: list[str]


def interactions_ingest(
    *, actor: Any, agent_id: int, items: Sequence[InteractionInput], acting_agent_id: int | None = None
) -> IngestResult:
    """Store a batch of interactions for the caller's agent, atomically, and queue their segmentation.

    Ownership only (ingestion is not tier-gated): another owner's agent is a 404, and so is any agent but
    its own for a token acting as an agent. Each session's interactions are numbered in time order
    after those already stored; a batch that reaches back before the session's latest stored
    interaction is refused (409), because sequence order must be time order for segments to be
    contiguous ranges. The segmentation task is enqueued on commit, so
    nothing runs for a batch that rolled back.
    """
    agent = agent_get_for_owner(owner=actor, agent_id=agent_id, acting_agent_id=acting_agent_id)
    if acting_agent_id is not None and agent.state != AgentState.ACTIVE:
        # The agent's own token: a paused or stopped agent does nothing, ingesting included (its owner still may).
        raise ForbiddenError("This agent is paused or stopped: its own token can do nothing until it is resumed.", code="AGENT_INACTIVE")
    by_session: dict[str, list[InteractionInput]] = {}
    for item in items:
        by_session.setdefault(item.session_id, []).append(item)
    with transaction.atomic():
        for key, group in by_session.items():
            session = _interactions_append(agent_id=agent.pk, key=key, group=sorted(group, key=attrgetter("timestamp")))
            # Enqueued on commit, like Celery's delay_on_commit, but robust: a broker outage after the
            # commit must not turn a stored batch into an error the client would retry (duplicating
            # it). The lifecycle sweep segments any session whose tail was left unsegmented.
            transaction.on_commit(_segmentation_enqueuer(session.pk), robust=True)
    return IngestResult(accepted=len(items), sessions=list(by_session))


def _segmentation_enqueuer(session_pk: int) -> Callable[[], None]:
    # A named function, not a partial: Django logs a failed robust hook by its __qualname__.
    def segmentation_enqueue() -> None:
        from episodes.tasks import episode_segment_task

        episode_segment_task.delay(session_pk)

    return segmentation_enqueue


def _interactions_append(*, agent_id: int, key: str, group: list[InteractionInput]) -> AgentSession:
    session, _ = AgentSession.objects.select_for_update().get_or_create(agent_id=agent_id, key=key)
    if session.last_at is not None and group[0].timestamp < session.last_at:
        raise ConflictError(
            "Interactions of a session must arrive in time order; this batch reaches back before the latest stored one.",
            code="INTERACTION_OUT_OF_ORDER",
            details={"session_id": key, "latest": session.last_at.isoformat()},
        )
    first_seq = session.next_seq
    session_pk, now = session.pk, timezone.now()
    _interactions_insert(
        [
            (agent_id, session_pk, seq, item.role, item.content, item.timestamp, _metadata_json(item.metadata), now)
            for seq, item in enumerate(group, first_seq)
        ]
    )
    session.next_seq = first_seq + len(group)
    session.last_at = group[-1].timestamp
    session.save(update_fields=["next_seq", "last_at"])
    return session


_INSERT_COLUMNS = ("agent_id", "session_id", "seq", "role", "content", "timestamp", "metadata", "created_at")
# An interaction as written: the values of _INSERT_COLUMNS, the metadata already JSON text.
InteractionInsertRow = tuple[int, int, int, str, str, datetime, str, datetime]


def _interactions_insert(rows: list[InteractionInsertRow]) -> None:
    """Insert interaction rows with the driver's bulk path (COPY on PostgreSQL, executemany elsewhere).

    Ingestion is the hot path of P4, and the ORM's bulk_create spends most of its time building model
    instances and re-compiling SQL per batch (see atom.dbinsert.rows_insert). The rows are built once,
    in their final shape, by the caller.
    """
    rows_insert(Interaction, _INSERT_COLUMNS, rows)


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":")) if metadata else "{}"
