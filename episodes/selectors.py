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
        with prepared_cursor() as cursor:  # prepared, and timestamps loaded in C on PostgreSQL
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
# per row through the ORM's per-value converters cost more than the query itself (P5). Each mode is one
# SELECT (a RetrievalRead) that the retrieval service runs together with its audit and access rows
# (atom.readlog). The SQL is composed once per vendor and shape from the models' own table and column
# names; every value is a bound parameter.


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


@dataclass(frozen=True)
class RetrievalRead:
    """One retrieval's SELECT: rows ordered by ``order_by`` (SQL over its column names), the access log
    recording the ``logged_id`` column; with ``requires_rows``, no row at all means "not found"."""

    sql: str
    params: tuple[Any, ...]
    order_by: str
    logged_id: str = "id"
    requires_rows: bool = False


_EPISODE_COLUMNS = (
    "id", "agent_id", "title", "summary", "status", "outcome", "topics", "importance", "decay", "maturity", "started_at", "ended_at",
    "interaction_count", "segment_count",
)  # fmt: skip
# Sequential reads the episode's segments beside it, under names of their own.
_SEGMENT_COLUMNS = (
    ("id", "segment_id"), ("order", "segment_order"), ("kind", "segment_kind"), ("seq_start", "seq_start"), ("seq_end", "seq_end"),
    ("started_at", "segment_started_at"), ("ended_at", "segment_ended_at"), ("preview", "preview"),
)  # fmt: skip
_EPISODE_WIDTH = len(_EPISODE_COLUMNS) + 1
_NEWEST_FIRST = "started_at DESC, id DESC"


@lru_cache(maxsize=256)
def _episode_sql(vendor: str, where: str, tail: str, *, source: str = "", join: str = "", extra: str = "") -> str:
    """SELECT of the listed columns and the session's key, then ``extra``, from ``source`` (a FROM item
    before the episodes, if any), the episodes, their sessions and ``join``; every argument holds only
    fixed SQL and %s."""
    quote = connection.ops.quote_name
    columns = ", ".join(f"e.{quote(name)}" for name in _EPISODE_COLUMNS[:2])
    rest = ", ".join(f"e.{quote(name)}" for name in _EPISODE_COLUMNS[2:])
    episodes, sessions = quote(Episode._meta.db_table), quote(AgentSession._meta.db_table)
    source = f"{source}, " if source else ""
    return (
        f"SELECT {columns}, s.{quote('key')} AS session_key, {rest}{extra} FROM {source}{episodes} e "  # noqa: S608  # nosec B608 - identifiers from the model, values bound
        f"INNER JOIN {sessions} s ON s.{quote('id')} = e.{quote('session_id')} {join}WHERE {where} {tail}"
    )


def _aware(value: datetime) -> datetime:
    # SQLite gives naive UTC back (Django stores aware datetimes that way); PostgreSQL gives aware ones.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _param(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def episode_rows(fetched: Sequence[Sequence[Any]]) -> list[EpisodeRow]:
    """Rows of a temporal or ranked read as EpisodeRow (a ranked read's trailing rank is ignored)."""
    return [
        EpisodeRow(pk, agent, key, title, summary, status, outcome, json.loads(topics) if isinstance(topics, str) else topics,
                   importance, decay, maturity, _aware(started), _aware(ended), interactions, segments)
        for pk, agent, key, title, summary, status, outcome, topics, importance, decay, maturity, started, ended, interactions, segments,
        *_rest in fetched
    ]  # fmt: skip


def read_rows(read: RetrievalRead) -> list[tuple[Any, ...]]:
    """Run a read on its own, logging nothing (benchmark baselines)."""
    with prepared_cursor() as cursor:
        cursor.execute(read.sql, read.params)
        return list(cursor.fetchall())


def episodes_temporal_read(
    *, agent_id: int, since: datetime | None, until: datetime | None, include_archived: bool, limit: int
) -> RetrievalRead:
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
    sql = _episode_sql(connection.vendor, where, "ORDER BY e.started_at DESC, e.id DESC LIMIT %s")
    return RetrievalRead(sql, tuple(params), _NEWEST_FIRST)


def episode_sequential_read(*, agent_id: int, episode_id: int, after: int, limit: int) -> RetrievalRead:
    """One of the agent's episodes (any status) with its segments after position ``after``, in order
    (index: episode, order): a row per segment, or one row without a segment when none is left; no row
    when the agent has no such episode."""
    quote = connection.ops.quote_name
    order = quote("order")
    sql = _episode_sql(
        connection.vendor,
        "e.agent_id = %s AND e.id = %s",
        f"ORDER BY g.{order} LIMIT %s",
        join=f"LEFT OUTER JOIN {quote(Segment._meta.db_table)} g ON g.episode_id = e.id AND g.{order} > %s ",
        extra="".join(f", g.{quote(name)} AS {alias}" for name, alias in _SEGMENT_COLUMNS),
    )
    # Ids past 64 bits name no episode (and would overflow the driver).
    params = (after, agent_id, episode_id if 0 < episode_id < 2**63 else 0, limit)
    return RetrievalRead(sql, params, "segment_order", logged_id="segment_id", requires_rows=True)


def sequential_rows(fetched: Sequence[Sequence[Any]]) -> tuple[EpisodeRow | None, list[SegmentRow]]:
    """A sequential read's episode (None when not found) and its segments."""
    if not fetched:
        return None, []
    segments = [
        SegmentRow(pk, order, kind, start, end, _aware(started), _aware(ended), preview)
        for pk, order, kind, start, end, started, ended, preview in (row[_EPISODE_WIDTH : _EPISODE_WIDTH + 8] for row in fetched)
        if pk is not None
    ]
    return episode_rows(fetched[:1])[0], segments


def episodes_ranked_read(*, ranked: list[tuple[int, float]]) -> RetrievalRead:
    """The ranked episodes in rank order (the rank in a last column, ``rank``); scores stay the caller's."""
    ids = [pk for pk, _ in ranked]
    param: Any = ids
    if connection.vendor == "postgresql":
        source, key, rank = "unnest(%s::bigint[]) WITH ORDINALITY AS k(id, rank)", "k.id", "k.rank"
    else:
        source, key, rank, param = "json_each(%s) k", "k.value", "k.key", json.dumps(ids)
    sql = _episode_sql(connection.vendor, f"e.id = {key}", "ORDER BY rank", source=source, extra=f", {rank} AS rank")
    return RetrievalRead(sql, (param,), "rank")


def episode_agent_id(*, episode_id: int) -> int | None:
    """The agent an episode belongs to, or None when there is no such episode."""
    return Episode.objects.filter(pk=episode_id).values_list("agent_id", flat=True).first()


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
