"""Semantic ranking keeps its promise of "ties by id" when more episodes tie than the limit takes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from episodes.embeddings import vector_to_bytes
from episodes.ranking import rank_contextual, rank_semantic
from episodes.vector_index import AgentVectors

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _vectors(ids: list[int]) -> AgentVectors:
    # Every episode has the same vector: they all tie, whatever the query.
    vectors = AgentVectors(model="m", dim=2)
    vectors.upsert([(pk, vector_to_bytes(np.array([1.0, 1.0], dtype=np.float32)), "m", "completed", AT, AT, 0.5) for pk in ids])
    return vectors


@pytest.mark.regression("BUG-140")
def test_p3_quality_semantic_ties_at_the_limit_are_not_broken_by_id_regression():
    # Stored newest first (as a delta refresh may leave them): the oldest ids sit at the end of the matrix.
    vectors = _vectors(list(range(40, 0, -1)))
    query = np.array([1.0, 0.0], dtype=np.float32)

    ranked = rank_semantic(vectors=vectors, query_vector=query, limit=10)
    in_context = rank_contextual(vectors=vectors, query_vector=query, limit=10, since=None, until=None, now=AT)

    assert [pk for pk, _ in ranked] == list(range(1, 11))
    assert [pk for pk, _ in in_context] == list(range(1, 11))
