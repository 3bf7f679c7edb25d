"""Reads of the episodes app: already-optimised querysets, and the in-memory ranking of vectors.

Every filter reaches SQL as a bound parameter through the ORM; query text never reaches SQL at all
(it is embedded and compared in memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import F, Q, QuerySet

from episodes.models import AgentSession, Episode, EpisodeStatus, Interaction, Segment
from episodes.vector_index import AgentVectors, epoch_us

InteractionRow = tuple[int, datetime, str, str, dict[str, Any]]
_ROW_FIELDS = ("seq", "timestamp", "role", "content", "metadata")
# The columns the API shows (the vector and the lifecycle's bookkeeping stay in the database).
_LIST_FIELDS = (
    "id", "agent_id", "session__key", "title", "summary", "status", "outcome", "topics", "importance", "decay", "maturity",
    "started_at", "ended_at", "interaction_count", "segment_count",
)  # fmt: skip

# Contextual score = W_SIMILARITY x cosine similarity (clipped to [0, 1])
#                  + W_RECENCY x 0.5 ** (days since the episode's last interaction / RECENCY_HALF_LIFE_DAYS)
#                  + W_IMPORTANCE x importance.
W_SIMILARITY = 0.6
W_RECENCY = 0.3
W_IMPORTANCE = 0.1
RECENCY_HALF_LIFE_DAYS = 30.0
CONTEXTUAL_SCORE_DOC = (
    "score = 0.6 x cosine similarity to q (clipped to [0, 1]) + 0.3 x 0.5^(days since the episode's last "
    "interaction / 30) + 0.1 x importance; in [0, 1], highest first."
)


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


def episodes_temporal(
    *, agent_id: int, since: datetime | None, until: datetime | None, include_archived: bool, limit: int
) -> QuerySet[Episode]:
    """The agent's episodes overlapping [since, until], newest first (index: agent, started_at desc)."""
    queryset = Episode.objects.filter(agent_id=agent_id, status__in=_visible(include_archived))
    if since is not None:
        queryset = queryset.filter(ended_at__gte=since)
    if until is not None:
        queryset = queryset.filter(started_at__lte=until)
    return queryset.select_related("session").only(*_LIST_FIELDS).order_by("-started_at", "-id")[:limit]


def episode_for_agent(*, agent_id: int, episode_id: int) -> Episode | None:
    """One of the agent's episodes (any status), or None."""
    return Episode.objects.select_related("session").only(*_LIST_FIELDS).filter(agent_id=agent_id, pk=episode_id).first()


def episode_agent_id(*, episode_id: int) -> int | None:
    """The agent an episode belongs to, or None when there is no such episode."""
    return Episode.objects.filter(pk=episode_id).values_list("agent_id", flat=True).first()


def segments_in_order(*, episode_id: int, after: int, limit: int) -> QuerySet[Segment]:
    """An episode's segments after position ``after``, in order (index: episode, order)."""
    return Segment.objects.filter(episode_id=episode_id, order__gt=after).order_by("order")[:limit]


def _top(scores: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_], ids: npt.NDArray[np.int64], limit: int) -> list[tuple[int, float]]:
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return []
    chosen = scores[candidates]
    if candidates.size > limit:
        # Keep the best ``limit`` and every episode tied with the last of them, so that ties are broken
        # by id below (a partition alone would pick arbitrary ones among the tied).
        kth = -np.partition(-chosen, limit - 1)[limit - 1]
        keep = np.flatnonzero(chosen >= kth)
        candidates, chosen = candidates[keep], chosen[keep]
    order = np.lexsort((ids[candidates], -chosen))[:limit]
    return [(int(ids[candidates[i]]), float(chosen[i])) for i in order]


def rank_semantic(*, vectors: AgentVectors, query_vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
    """The ``limit`` searchable episodes most similar to the query (cosine), best first, ties by id."""
    size = vectors.size
    if size == 0:
        return []
    scores = (vectors.matrix[:size] @ query_vector).astype(np.float64)
    return _top(scores, vectors.searchable[:size], vectors.ids[:size], limit)


def rank_contextual(
    *,
    vectors: AgentVectors,
    query_vector: npt.NDArray[np.float32],
    limit: int,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> list[tuple[int, float]]:
    """The ``limit`` best episodes in the time window by the contextual score (see CONTEXTUAL_SCORE_DOC)."""
    size = vectors.size
    if size == 0:
        return []
    similarity = np.clip((vectors.matrix[:size] @ query_vector).astype(np.float64), 0.0, 1.0)
    age_days = np.maximum(0, epoch_us(now) - vectors.ended_us[:size]) / 86_400_000_000
    recency = np.power(0.5, age_days / RECENCY_HALF_LIFE_DAYS)
    scores = W_SIMILARITY * similarity + W_RECENCY * recency + W_IMPORTANCE * vectors.importance[:size]
    mask = vectors.searchable[:size].copy()
    if since is not None:
        mask &= vectors.ended_us[:size] >= epoch_us(since)
    if until is not None:
        mask &= vectors.started_us[:size] <= epoch_us(until)
    return _top(scores, mask, vectors.ids[:size], limit)


def episodes_by_rank(*, ranked: list[tuple[int, float]]) -> list[Episode]:
    """The ranked episodes in rank order, each with its ``score`` attribute set (one query)."""
    if not ranked:
        return []
    by_id = {
        episode.pk: episode
        for episode in Episode.objects.select_related("session").only(*_LIST_FIELDS).filter(pk__in=[pk for pk, _ in ranked])
    }
    ordered = []
    for pk, score in ranked:
        episode = by_id.get(pk)
        if episode is not None:
            episode.score = round(score, 6)  # type: ignore[attr-defined]
            ordered.append(episode)
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
