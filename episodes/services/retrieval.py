"""Governed retrieval of episodes: temporal, semantic, sequential and contextual, with clamped limits.

Every retrieval asks governance first, is confined to the caller's agents, and is written to the access log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from atom.dbinsert import row_append
from atom.errors import DomainError, NotFoundError
from episodes import ranking, selectors
from episodes.embeddings import embedder_get
from episodes.models import EpisodeAccess, RetrievalMode
from episodes.selectors import EpisodeRow, SegmentRow
from episodes.vector_index import vector_index
from governance.services.actions import agent_access_authorize

# --- Retrieval ----------------------------------------------------------------------------------

# The tier each retrieval mode needs, as a governance action (SPEC section 3's action map).
MODE_ACTIONS: dict[str, str] = {
    RetrievalMode.TEMPORAL: "memory_search",
    RetrievalMode.SEQUENTIAL: "memory_search",
    RetrievalMode.SEMANTIC: "semantic_search",
    RetrievalMode.CONTEXTUAL: "semantic_search",
}
# (default, maximum) limit per mode; sequential limits the segments returned.
MODE_LIMITS: dict[str, tuple[int, int]] = {
    RetrievalMode.TEMPORAL: (50, 200),
    RetrievalMode.SEMANTIC: (10, 100),
    RetrievalMode.SEQUENTIAL: (50, 200),
    RetrievalMode.CONTEXTUAL: (5, 50),
}


@dataclass(frozen=True)
class RetrievalQuery:
    """A validated retrieval request."""

    mode: str
    limit: int | None = None
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    episode_id: int | None = None
    after: int = -1
    include_archived: bool = False


@dataclass
class RetrievalResult:
    """Episodes (with a score for ranked modes), or one episode with its segments (sequential)."""

    mode: str
    limit: int
    episodes: list[EpisodeRow] = field(default_factory=list)
    segments: list[SegmentRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.episodes)


def limit_clamp(*, mode: str, requested: int | None) -> int:
    """The mode's default when none is given; never more than the mode's maximum."""
    default, maximum = MODE_LIMITS[mode]
    return default if requested is None else max(1, min(requested, maximum))


def episodes_retrieve(
    *, actor: Any, agent_id: int, query: RetrievalQuery, request_id: str = "", acting_agent_id: int | None = None
) -> RetrievalResult:
    """Governed retrieval of an agent's episodes in one of the four modes, written to the access log.

    Governance first (``agent_access_authorize``: 404 for a missing or foreign agent, or for any agent
    but its own when the caller is a token acting as an agent; 403 below the mode's tier or for an
    inactive agent; one audit row either way). Query text is only ever embedded and compared in memory,
    and every filter reaches SQL as a bound parameter.
    """
    refusal: DomainError | None = None
    # One transaction for the audit row, the read and the access log (one commit instead of two). A
    # refusal is caught inside it so that its audit row commits; savepoint=False adds no query when a
    # caller already holds a transaction.
    with transaction.atomic(savepoint=False):
        try:
            result = _governed_read(actor=actor, agent_id=agent_id, query=query, request_id=request_id, acting_agent_id=acting_agent_id)
        except DomainError as exc:
            refusal = exc
    if refusal is not None:
        raise refusal
    return result


def _governed_read(*, actor: Any, agent_id: int, query: RetrievalQuery, request_id: str, acting_agent_id: int | None) -> RetrievalResult:
    agent = agent_access_authorize(
        actor=actor, agent_id=agent_id, action=MODE_ACTIONS[query.mode], request_id=request_id, acting_agent_id=acting_agent_id
    )
    limit = limit_clamp(mode=query.mode, requested=query.limit)
    result = RetrievalResult(mode=query.mode, limit=limit)
    if query.mode == RetrievalMode.TEMPORAL:
        result.episodes = selectors.episodes_temporal(
            agent_id=agent.pk, since=query.since, until=query.until, include_archived=query.include_archived, limit=limit
        )
    elif query.mode == RetrievalMode.SEQUENTIAL:
        assert query.episode_id is not None
        episode = selectors.episode_for_agent(agent_id=agent.pk, episode_id=query.episode_id)
        if episode is None:
            raise NotFoundError("Episode not found.")
        result.episodes = [episode]
        result.segments = selectors.segments_in_order(episode_id=episode.pk, after=query.after, limit=limit)
    else:
        query_vector = embedder_get().embed([query.text])[0]
        vectors = vector_index.vectors_for(agent.pk)
        if query.mode == RetrievalMode.SEMANTIC:
            ranked = ranking.rank_semantic(vectors=vectors, query_vector=query_vector, limit=limit)
        else:
            ranked = ranking.rank_contextual(
                vectors=vectors, query_vector=query_vector, limit=limit, since=query.since, until=query.until, now=timezone.now()
            )
        result.episodes = selectors.episodes_by_rank(ranked=ranked)
    _access_record(actor=actor, agent_id=agent.pk, query=query, result=result, request_id=request_id)
    return result


def episode_read(*, actor: Any, episode_id: int, request_id: str = "", acting_agent_id: int | None = None) -> RetrievalResult:
    """``GET episodes/{id}/``: sequential retrieval of one episode, found by its id alone."""
    agent_id = selectors.episode_agent_id(episode_id=episode_id)
    if agent_id is None:
        raise NotFoundError("Episode not found.")
    return episodes_retrieve(
        actor=actor,
        agent_id=agent_id,
        query=RetrievalQuery(mode=RetrievalMode.SEQUENTIAL, episode_id=episode_id, limit=MODE_LIMITS[RetrievalMode.SEQUENTIAL][1]),
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def _access_record(*, actor: Any, agent_id: int, query: RetrievalQuery, result: RetrievalResult, request_id: str) -> None:
    params: dict[str, Any] = {"limit": result.limit}
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None:
            params[name] = moment.isoformat()
    if query.episode_id is not None:
        params["episode_id"] = query.episode_id
    ids = [segment.pk for segment in result.segments] if query.mode == RetrievalMode.SEQUENTIAL else [e.pk for e in result.episodes]
    # The access log is written on every retrieval: the prepared INSERT of row_append.
    access = EpisodeAccess(
        agent_id=agent_id,
        actor=actor,
        mode=query.mode,
        query=query.text,
        params=params,
        result_ids=ids,
        result_count=len(ids),
        request_id=request_id,
    )
    row_append(access)
