"""Ranking of an agent's episode vectors for semantic and contextual retrieval, in memory (numpy).

Pure functions of the vectors the index holds (:mod:`episodes.vector_index`) and the query's vector:
no database, no query text. Best first, ties broken by id.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt

from episodes.vector_index import AgentVectors, epoch_us

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
    """The ``limit`` searchable episodes most similar to the query (cosine), best first, ties by id.

    With a graph, only its candidates and the ungraphed rows are scored (exactly, from the matrix); when
    fewer than ``limit`` of the candidates are searchable while more episodes are (the graph's nearest
    were archived), every row is scanned instead.
    """
    size = vectors.size
    if size == 0:
        return []
    if vectors.graph is not None:
        candidates = vectors.graph_candidates(query_vector, limit)
        searchable = vectors.searchable[candidates]
        found = int(np.count_nonzero(searchable))
        if found >= limit or found == int(np.count_nonzero(vectors.searchable[:size])):
            scores = (vectors.matrix[candidates] @ query_vector).astype(np.float64)
            return _top(scores, searchable, vectors.ids[candidates], limit)
    return rank_exact(vectors=vectors, query_vector=query_vector, limit=limit)


def rank_exact(*, vectors: AgentVectors, query_vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
    """Semantic ranking by scanning every row: the exact answer (and recall@10's reference)."""
    size = vectors.size
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
