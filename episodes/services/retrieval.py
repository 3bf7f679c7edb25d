"""Governed retrieval of episodes: temporal, semantic, sequential and contextual, with clamped limits.

Every retrieval asks governance first, is confined to the caller's agents, and is written to the access log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from atom.errors import NotFoundError
from atom.readlog import ReadLog, select_logged
from episodes import ranking, selectors
from episodes.embeddings import embedder_get
from episodes.models import EpisodeAccess, RetrievalMode
from episodes.selectors import EpisodeRow, SegmentRow
from episodes.vector_index import vector_index
from governance.services.actions import AccessGrant, agent_access_grant

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

    Governance first (``agent_access_grant``: 404 for a missing or foreign agent, or for any agent
    but its own when the caller is a token acting as an agent; 403 below the mode's tier or for an
    inactive agent; one audit row either way). Query text is only ever embedded and compared in memory,
    and every filter reaches SQL as a bound parameter. The allowed decision's audit row, the read and
    the access-log row are written together (``atom.readlog``: one statement on PostgreSQL), so a read
    is never served without both rows, nor logged without having run.
    """
    grant = agent_access_grant(
        actor=actor, agent_id=agent_id, action=MODE_ACTIONS[query.mode], request_id=request_id, acting_agent_id=acting_agent_id
    )
    agent_pk = grant.agent.pk
    limit = limit_clamp(mode=query.mode, requested=query.limit)
    result = RetrievalResult(mode=query.mode, limit=limit)
    if query.mode == RetrievalMode.TEMPORAL:
        read = selectors.episodes_temporal_read(
            agent_id=agent_pk, since=query.since, until=query.until, include_archived=query.include_archived, limit=limit
        )
        result.episodes = selectors.episode_rows(_logged(read, grant=grant, query=query, limit=limit, request_id=request_id))
    elif query.mode == RetrievalMode.SEQUENTIAL:
        assert query.episode_id is not None
        read = selectors.episode_sequential_read(agent_id=agent_pk, episode_id=query.episode_id, after=query.after, limit=limit)
        episode, result.segments = selectors.sequential_rows(_logged(read, grant=grant, query=query, limit=limit, request_id=request_id))
        if episode is None:
            raise NotFoundError("Episode not found.")
        result.episodes = [episode]
    else:
        query_vector = embedder_get().embed([query.text])[0]
        vectors = vector_index.vectors_for(agent_pk)
        if query.mode == RetrievalMode.SEMANTIC:
            ranked = ranking.rank_semantic(vectors=vectors, query_vector=query_vector, limit=limit)
        else:
            ranked = ranking.rank_contextual(
                vectors=vectors, query_vector=query_vector, limit=limit, since=query.since, until=query.until, now=timezone.now()
            )
        read = selectors.episodes_ranked_read(ranked=ranked)
        result.episodes = selectors.episode_rows(_logged(read, grant=grant, query=query, limit=limit, request_id=request_id))
        scores = dict(ranked)
        for row in result.episodes:
            row.score = round(scores[row.id], 6)
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


def _logged(
    read: selectors.RetrievalRead, *, grant: AccessGrant, query: RetrievalQuery, limit: int, request_id: str
) -> list[tuple[Any, ...]]:
    """Run the read with the grant's audit row and the access-log row (what it returned, in order)."""
    params: dict[str, Any] = {"limit": limit}
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None:
            params[name] = moment.isoformat()
    if query.episode_id is not None:
        params["episode_id"] = query.episode_id
    access = EpisodeAccess(
        agent_id=grant.agent.pk, actor=grant.audit.actor, mode=query.mode, query=query.text, params=params, request_id=request_id
    )
    log = ReadLog(
        row=access,
        ids_field="result_ids",
        count_field="result_count",
        id_column=read.logged_id,
        order_by=read.order_by,
        requires_rows=read.requires_rows,
    )
    return select_logged(read.sql, read.params, before=[grant.audit], log=log)
