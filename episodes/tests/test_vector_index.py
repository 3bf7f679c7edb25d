"""The in-process vector index: refreshed by delta, exact, and blind to vectors of another embedder."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from episodes.embeddings import embedder_get, vector_to_bytes
from episodes.models import Episode, EpisodeStatus
from episodes.ranking import rank_semantic
from episodes.tests.factories import conversation, episode_from, make_agent
from episodes.vector_index import AgentVectors, vector_index

AT = datetime(2026, 1, 1, tzinfo=UTC)


def row(pk, vector, model="m", status="completed"):
    return (pk, vector_to_bytes(np.asarray(vector, dtype=np.float32)), model, status, AT, AT, 0.5)


def test_upsert_grows_replaces_and_normalises():
    vectors = AgentVectors(model="m", dim=2)
    vectors.upsert([row(pk, [pk, 1]) for pk in range(1, 40)])
    vectors.upsert([row(7, [0, 3]), row(40, [3, 0], status="archived"), row(41, [1, 1], model="other")])
    assert vectors.size == 41
    assert np.allclose(vectors.matrix[vectors.rows[7]], [0, 1])
    assert not vectors.searchable[vectors.rows[40]]
    assert not vectors.searchable[vectors.rows[41]]
    ranked = rank_semantic(vectors=vectors, query_vector=np.array([0, 1], dtype=np.float32), limit=3)
    assert ranked[0][0] == 7
    assert ranked[0][1] == pytest.approx(1.0)


@pytest.mark.django_db
def test_a_process_reads_only_what_changed_since_its_version(django_assert_num_queries):
    agent = make_agent()
    first = episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    vector_index.vectors_for(agent.pk)
    with django_assert_num_queries(1):
        cached = vector_index.vectors_for(agent.pk)
    assert cached.size == 1
    episode_from(agent, conversation(contents=["a chocolate cake"], session_id="b"))
    Episode.objects.filter(pk=first.pk).update(status=EpisodeStatus.ARCHIVED)
    refreshed = vector_index.vectors_for(agent.pk)
    assert refreshed.size == 2
    # The status change was not stamped with a new version, so this process has not seen it: only
    # services change status, and they stamp (see the lifecycle tests).
    assert refreshed.searchable[refreshed.rows[first.pk]]
    assert embedder_get().name == refreshed.model
