"""The saved copy of an agent's vectors: a fresh process maps it, and a stale or foreign copy is never wrong."""

from __future__ import annotations

import numpy as np
import pytest

from episodes import vector_index as index_module
from episodes.embeddings import embedder_get
from episodes.models import Episode, MemoryIndexVersion
from episodes.ranking import rank_semantic
from episodes.tests.factories import conversation, episode_from, make_agent
from episodes.vector_index import vector_index

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def save_at_once(monkeypatch, settings, tmp_path):
    monkeypatch.setattr(index_module, "SAVE_AFTER_ROWS", 1)
    settings.VAR_DIR = tmp_path
    vector_index.clear()
    yield
    vector_index.clear()


def _ranked(agent_id: int, text: str) -> list[int]:
    query = embedder_get().embed([text])[0]
    return [pk for pk, _ in rank_semantic(vectors=vector_index.vectors_for(agent_id), query_vector=query, limit=10)]


def test_a_fresh_process_maps_the_saved_copy_and_reads_nothing_else(django_assert_num_queries):
    agent = make_agent()
    episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    built = vector_index.vectors_for(agent.pk)
    vector_index.clear()
    with django_assert_num_queries(1):
        loaded = vector_index.vectors_for(agent.pk)
    assert isinstance(loaded.matrix, np.memmap)
    assert loaded.size == built.size == 1
    assert np.array_equal(loaded.matrix[:1], built.matrix[:1])


def test_a_stale_copy_is_completed_from_the_database():
    agent = make_agent()
    first = episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    vector_index.vectors_for(agent.pk)
    index_module.SAVE_AFTER_ROWS = 10**9  # the copy on disk now lags behind
    second = episode_from(agent, conversation(contents=["bake a chocolate cake"], session_id="b"))
    vector_index.clear()
    assert _ranked(agent.pk, "chocolate cake")[0] == second.pk
    assert set(_ranked(agent.pk, "billing")) == {first.pk, second.pk}


def test_a_copy_ahead_of_the_database_or_of_another_agent_is_ignored():
    agent = make_agent()
    episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    vector_index.vectors_for(agent.pk)
    vector_index.clear()
    MemoryIndexVersion.objects.filter(agent=agent).update(version=0)
    Episode.objects.filter(agent=agent).update(index_version=0)
    embedder = embedder_get()
    created_us = index_module.epoch_us(agent.created_at)

    def load(created: int, version: int) -> object:
        model, dim = embedder.name, embedder.dim
        return index_module.vectors_load(agent_id=agent.pk, model=model, dim=dim, agent_created_us=created, version=version)

    # The database went back (recreated): the copy, ahead of it, must not be used.
    assert load(created_us, 0) is None
    # Another agent under the same id (its creation time differs).
    assert load(1, 10**6) is None
    # The copy itself is fine for its own agent.
    assert load(created_us, 10**6) is not None
