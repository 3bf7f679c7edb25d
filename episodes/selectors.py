"""Reads of the episodes app: already-optimised querysets, retrieval's plain rows, and the in-memory
ranking of vectors.

Every filter reaches SQL as a bound parameter (through the ORM, or beside SQL composed from the model's
own names); query text never reaches SQL at all (it is embedded and compared in memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet

from atom.prepared import prepared_cursor
from episodes.models import AgentSession, Episode, EpisodeStatus, Interaction, Segment

InteractionRow = tuple[int, datetime, str, str, dict[str, Any]]
_ROW_FIELDS = ("seq", "timestamp", "role", "content", "metadata")


def interaction_rows(*, session_id: int, seq_from: int, seq_to: int) -> QuerySet[Interaction, InteractionRow]:
    """A session's interactions seq_from..seq_to (inclusive), in order, as plain tuples."""
    return Interaction.objects.filter(session_id=session_id, seq__gte=seq_from, seq__lte=seq_to).order_by("seq").values_list(*_ROW_FIELDS)


def interaction_chunks(*, session_id: int, seq_from: int, chunk: int) -> Iterator[list[InteractionRow]]:
    """A session's interactions from seq_from on, in order, chunk by chunk.

    Keyset pages on the unique (session, seq) index: bounded memory, and no server-side cursor held
    across the writes made in between. This is segmentation's hot loop (P4), so it reads through the
    cursor and converts the two typed columns itself instead of running the ORM's per-value
    converters; the values are bound parameters and the identifiers are the model's own.
    """
    table = connection.ops.quote_name(Interaction._meta.db_table)
    sql = (
        f"SELECT seq, timestamp, role, content, metadata FROM {table} "  # noqa: S608  # nosec B608 - identifiers from the model, values bound
        "WHERE session_id = %s AND seq >= %s ORDER BY seq LIMIT %s"
    )
    naive = connection.vendor == "sqlite"
    next_seq = seq_from
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [session_id, next_seq, chunk])
            fetched = cursor.fetchall()
        if not fetched:
            return
        # Datetimes come back naive UTC on SQLite, aware on PostgreSQL; JSON comes back as text from
        # both (Django leaves decoding to the field), and "{}", the common case, needs no parsing.
        rows: list[InteractionRow] = [
            (seq, at.replace(tzinfo=UTC) if naive else at, role, content, json.loads(meta) if meta != "{}" else {})
            for seq, at, role, content, meta in fetched
        ]
        yield rows
        if len(rows) < chunk:
            return
        next_seq = rows[-1][0] + 1


def segment_interactions(*, segment: Segment) -> QuerySet[Interaction]:
    """The interactions a segment holds, in order."""
    return Interaction.objects.filter(session_id=segment.episode.session_id, seq__gte=segment.seq_start, seq__lte=segment.seq_end).order_by(
        "seq"
    )


def _visible(include_archived: bool) -> list[str]:
    statuses: list[str] = [EpisodeStatus.ACTIVE, EpisodeStatus.COMPLETED]
    return [*statuses, EpisodeStatus.ARCHIVED] if include_archived else statuses


# --- Retrieval reads ----------------------------------------------------------------------------
#
# Retrieval answers with plain rows, not model instances: building two instances (episode and session)
# per row through the ORM's per-value converters cost more than the query itself (P5). The SQL is
# composed once per vendor and shape from the model's own table and column names; every value is a
# bound parameter.


@dataclass(slots=True)
class EpisodeRow:
    """An episode as retrieval shows it (the columns of the API), with its rank score when ranked."""

    id: int
    agent_id: int
    session_key: str
    title: str
    summary: str
    status: str
    outcome: str
    topics: list[str]
    importance: float
    decay: float
    maturity: str
    started_at: datetime
    ended_at: datetime
    interaction_count: int
    segment_count: int
    score: float | None = None

    @property
    def pk(self) -> int:
        return self.id


@dataclass(slots=True)
class SegmentRow:
    """A segment as sequential retrieval shows it."""

    id: int
    order: int
    kind: str
    seq_start: int
    seq_end: int
    started_at: datetime
    ended_at: datetime
    preview: str

    @property
    def pk(self) -> int:
        return self.id

    @property
    def interaction_count(self) -> int:
        return self.seq_end - self.seq_start + 1


_EPISODE_COLUMNS = (
    "id", "agent_id", "title", "summary", "status", "outcome", "topics", "importance", "decay", "maturity", "started_at", "ended_at",
    "interaction_count", "segment_count",
)  # fmt: skip
_SEGMENT_COLUMNS = ("id", "order", "kind", "seq_start", "seq_end", "started_at", "ended_at", "preview")


@lru_cache(maxsize=256)
def _episode_sql(vendor: str, where: str, tail: str) -> str:
    """SELECT of the listed columns and the session's key; ``where``/``tail`` hold only fixed SQL and %s."""
    quote = connection.ops.quote_name
    columns = ", ".join(f"e.{quote(name)}" for name in _EPISODE_COLUMNS[:2])
    rest = ", ".join(f"e.{quote(name)}" for name in _EPISODE_COLUMNS[2:])
    episodes, sessions = quote(Episode._meta.db_table), quote(AgentSession._meta.db_table)
    return (
        f"SELECT {columns}, s.{quote('key')}, {rest} FROM {episodes} e "  # noqa: S608  # nosec B608 - identifiers from the model, values bound
        f"INNER JOIN {sessions} s ON s.{quote('id')} = e.{quote('session_id')} WHERE {where} {tail}"
    )


def _aware(value: datetime) -> datetime:
    # SQLite gives naive UTC back (Django stores aware datetimes that way); PostgreSQL gives aware ones.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _param(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _episode_rows(sql: str, params: Sequence[Any]) -> list[EpisodeRow]:
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [
        EpisodeRow(pk, agent, key, title, summary, status, outcome, json.loads(topics) if isinstance(topics, str) else topics,
                   importance, decay, maturity, _aware(started), _aware(ended), interactions, segments)
        for pk, agent, key, title, summary, status, outcome, topics, importance, decay, maturity, started, ended, interactions, segments
        in fetched
    ]  # fmt: skip


def episodes_temporal(
    *, agent_id: int, since: datetime | None, until: datetime | None, include_archived: bool, limit: int
) -> list[EpisodeRow]:
    """The agent's episodes overlapping [since, until], newest first (index: agent, started_at desc)."""
    statuses = _visible(include_archived)
    where = "e.agent_id = %s AND e.status IN (" + ", ".join(["%s"] * len(statuses)) + ")"
    params: list[Any] = [agent_id, *statuses]
    if since is not None:
        where += " AND e.ended_at >= %s"
        params.append(_param(since))
    if until is not None:
        where += " AND e.started_at <= %s"
        params.append(_param(until))
    params.append(limit)
    return _episode_rows(_episode_sql(connection.vendor, where, "ORDER BY e.started_at DESC, e.id DESC LIMIT %s"), params)


def episode_for_agent(*, agent_id: int, episode_id: int) -> EpisodeRow | None:
    """One of the agent's episodes (any status), or None."""
    if not 0 < episode_id < 2**63:
        return None
    rows = _episode_rows(_episode_sql(connection.vendor, "e.agent_id = %s AND e.id = %s", ""), [agent_id, episode_id])
    return rows[0] if rows else None


def episode_agent_id(*, episode_id: int) -> int | None:
    """The agent an episode belongs to, or None when there is no such episode."""
    return Episode.objects.filter(pk=episode_id).values_list("agent_id", flat=True).first()


@lru_cache(maxsize=4)
def _segments_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in _SEGMENT_COLUMNS)
    return (
        f"SELECT {columns} FROM {quote(Segment._meta.db_table)} "  # noqa: S608  # nosec B608 - identifiers from the model, values bound
        f"WHERE episode_id = %s AND {quote('order')} > %s ORDER BY {quote('order')} LIMIT %s"
    )


def segments_in_order(*, episode_id: int, after: int, limit: int) -> list[SegmentRow]:
    """An episode's segments after position ``after``, in order (index: episode, order)."""
    with prepared_cursor() as cursor:
        cursor.execute(_segments_sql(connection.vendor), [episode_id, after, limit])
        fetched = cursor.fetchall()
    return [
        SegmentRow(pk, order, kind, start, end, _aware(started), _aware(ended), preview)
        for pk, order, kind, start, end, started, ended, preview in fetched
    ]


def episodes_by_rank(*, ranked: list[tuple[int, float]]) -> list[EpisodeRow]:
    """The ranked episodes in rank order, each with its ``score`` set (one query)."""
    if not ranked:
        return []
    where = "e.id IN (" + ", ".join(["%s"] * len(ranked)) + ")"
    by_id = {row.id: row for row in _episode_rows(_episode_sql(connection.vendor, where, ""), [pk for pk, _ in ranked])}
    ordered = []
    for pk, score in ranked:
        row = by_id.get(pk)
        if row is not None:
            row.score = round(score, 6)
            ordered.append(row)
    return ordered


# --- Lifecycle reads ----------------------------------------------------------------------------


def sessions_unsegmented(*, settled_before: datetime) -> list[int]:
    """Sessions with interactions that no episode covers yet, untouched since ``settled_before``
    (their segmentation task was lost, e.g. the broker was down when it was enqueued)."""
    return list(
        AgentSession.objects.filter(last_at__lt=settled_before)
        .filter(Q(episode__isnull=True) | Q(episode__segmented_through__lt=F("next_seq") - 1))
        .order_by("id")
        .values_list("id", flat=True)
    )


def episodes_idle_ids(*, cutoff: datetime) -> QuerySet[Episode, int]:
    """Active episodes whose last interaction is older than ``cutoff``."""
    return Episode.objects.filter(status=EpisodeStatus.ACTIVE, ended_at__lt=cutoff).order_by("id").values_list("id", flat=True)


def episodes_to_archive(*, cutoff: datetime) -> list[tuple[int, int]]:
    """(agent id, episode id) of live episodes whose last interaction is older than ``cutoff``."""
    return list(
        Episode.objects.filter(status__in=[EpisodeStatus.ACTIVE, EpisodeStatus.COMPLETED], ended_at__lt=cutoff)
        .order_by("id")
        .values_list("agent_id", "id")
    )


def episodes_to_decay(*, cutoff: datetime, page: int = 1000) -> Iterator[Episode]:
    """Episodes (any status but archived, whose decay is already 0) last active before ``cutoff``, in id
    pages so that the caller may write between pages."""
    last_id = 0
    while True:
        batch = list(
            Episode.objects.filter(ended_at__lt=cutoff, pk__gt=last_id)
            .exclude(status=EpisodeStatus.ARCHIVED)
            .order_by("id")
            .only("id", "ended_at", "decay")[:page]
        )
        yield from batch
        if len(batch) < page:
            return
        last_id = batch[-1].pk


def agents_with_unchecked_episodes() -> list[int]:
    """Agents with completed episodes not yet compared for consolidation."""
    return list(
        Episode.objects.filter(status=EpisodeStatus.COMPLETED, consolidation_checked=False)
        .order_by("agent_id")
        .values_list("agent_id", flat=True)
        .distinct()
    )


def episodes_completed_vectors(*, agent_id: int) -> QuerySet[Episode, tuple[int, bool, bytes, str]]:
    """(id, checked, embedding sum, model) of the agent's completed episodes, oldest first."""
    return (
        Episode.objects.filter(agent_id=agent_id, status=EpisodeStatus.COMPLETED)
        .order_by("started_at", "id")
        .values_list("id", "consolidation_checked", "embedding", "embedding_model")  # type: ignore[return-value]
    )
