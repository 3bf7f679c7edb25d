"""The approximate search graph: candidates rescored exactly, every row it does not hold scored exactly,
kept current by the segmentation task and mapped by every other process from the saved copy."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from usearch.index import Index

from episodes import vector_index as index_module
from episodes.embeddings import embedder_get, vector_to_bytes
from episodes.models import AgentSession
from episodes.ranking import rank_exact, rank_semantic
from episodes.tasks import episode_segment_task
from episodes.tests.factories import conversation, episode_from, make_agent
from episodes.vector_index import AgentVectors, VectorIndex, graph_update, vector_index

AT = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = [
    "deploy",
    "billing",
    "service",
    "login",
    "test",
    "database",
    "migration",
    "rotate",
    "api",
    "keys",
    "celery",
    "workers",
    "release",
    "notes",
    "cake",
]


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 6))) + f" ticket {rng.randint(0, 5000)}" for _ in range(count)]


def _vectors(texts: list[str], status: str = "completed") -> AgentVectors:
    embedder = embedder_get()
    vectors = AgentVectors(model=embedder.name, dim=embedder.dim)
    embedded = embedder.embed(texts)
    vectors.upsert([(pk, vector_to_bytes(vector), embedder.name, status, AT, AT, 0.5) for pk, vector in enumerate(embedded, start=1)])
    return vectors


def _top_ids(ranked):
    return [pk for pk, _ in ranked]


def test_recall_at_10_against_the_exact_scan_is_at_least_095():
    vectors = _vectors(_texts(5000, seed=1))
    assert graph_update(vectors) == 5000
    assert not vectors.ungraphed[:5000].any()
    queries = embedder_get().embed(_texts(100, seed=2))
    found = 0
    for query in queries:
        exact = set(_top_ids(rank_exact(vectors=vectors, query_vector=query, limit=10)))
        found += len(exact & set(_top_ids(rank_semantic(vectors=vectors, query_vector=query, limit=10))))
    assert found / (10 * len(queries)) >= 0.95


def test_rows_added_or_changed_after_the_graph_are_scored_exactly():
    vectors = _vectors(_texts(500, seed=3))
    graph_update(vectors)
    embedder = embedder_get()
    target = "an entirely new subject about strawberries and cream"
    query = embedder.embed([target])[0]
    # A new episode and a changed one, neither in the graph: both must rank first for their text.
    vectors.upsert([(501, vector_to_bytes(query), embedder.name, "completed", AT, AT, 0.5)])
    assert _top_ids(rank_semantic(vectors=vectors, query_vector=query, limit=1)) == [501]
    vectors.upsert([(501, vector_to_bytes(-query), embedder.name, "completed", AT, AT, 0.5)])
    vectors.upsert([(7, vector_to_bytes(query), embedder.name, "completed", AT, AT, 0.5)])
    ranked = rank_semantic(vectors=vectors, query_vector=query, limit=3)
    assert ranked[0][0] == 7
    assert ranked[0][1] == pytest.approx(1.0)
    assert 501 not in _top_ids(ranked)
    # Once graphed, the changed rows replace their old entries.
    assert graph_update(vectors) == 2
    assert _top_ids(rank_semantic(vectors=vectors, query_vector=query, limit=1)) == [7]
    assert _top_ids(rank_semantic(vectors=vectors, query_vector=-query, limit=1)) == [501]


def test_when_the_graphs_nearest_are_archived_the_scan_still_returns_the_limit():
    texts = ["deploy the billing service"] * 300 + _texts(200, seed=4)
    vectors = _vectors(texts)
    graph_update(vectors)
    embedder = embedder_get()
    archived = [(pk, vector_to_bytes(embedder.embed([texts[pk - 1]])[0]), embedder.name, "archived", AT, AT, 0.5) for pk in range(1, 301)]
    vectors.upsert(archived)
    graph_update(vectors)
    query = embedder.embed(["deploy the billing service"])[0]
    ranked = rank_semantic(vectors=vectors, query_vector=query, limit=10)
    assert len(ranked) == 10
    assert all(pk > 300 for pk in _top_ids(ranked))
    assert ranked == rank_exact(vectors=vectors, query_vector=query, limit=10)


@pytest.fixture
def graphed(monkeypatch, settings, tmp_path):
    """Every agent gets a graph, updated after each new row; copies saved under a fresh directory."""
    settings.VAR_DIR = tmp_path
    settings.EPISODES_ANN_MIN_ROWS = 1
    monkeypatch.setattr(index_module, "GRAPH_AFTER_ROWS", 1)
    vector_index.clear()
    yield
    vector_index.clear()


def _segment_with_the_task(agent, contents, session_id):
    from episodes.services.ingestion import interactions_ingest

    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=conversation(contents=contents, session_id=session_id))
    return episode_segment_task(AgentSession.objects.get(agent=agent, key=session_id).pk)


@pytest.mark.django_db
def test_the_segmentation_task_saves_a_graph_that_a_fresh_process_maps(graphed):
    agent = make_agent()
    first = _segment_with_the_task(agent, ["deploy the billing service"], "a")
    second = _segment_with_the_task(agent, ["bake a chocolate cake"], "b")
    worker = vector_index.vectors_for(agent.pk)
    assert worker.graph is not None
    assert len(worker.graph) == 2
    assert not worker.ungraphed[:2].any()
    vector_index.clear()  # a fresh process
    web = vector_index.vectors_for(agent.pk)
    assert isinstance(web.graph, Index)
    assert web.graph_path is not None
    assert web.graph_path.exists()
    cake = embedder_get().embed(["chocolate cake"])[0]
    assert _top_ids(rank_semantic(vectors=web, query_vector=cake, limit=2)) == [second, first]


@pytest.mark.django_db
def test_a_process_maps_the_newer_graph_the_task_saved(graphed):
    agent = make_agent()
    episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    web = vector_index.vectors_for(agent.pk)
    assert web.graph is None
    worker = VectorIndex()  # another process: the worker
    episode_from(agent, conversation(contents=["bake a chocolate cake"], session_id="b"))
    assert worker.graph_refresh(agent.pk) == 2
    web = vector_index.vectors_for(agent.pk)
    assert web.graph is not None
    assert not web.ungraphed[: web.size].any()
    # With nothing waiting, the task leaves the graph as it is.
    assert worker.graph_refresh(agent.pk) == 0


@pytest.mark.django_db
def test_below_the_threshold_no_graph_is_built(graphed, settings):
    settings.EPISODES_ANN_MIN_ROWS = 3
    agent = make_agent()
    _segment_with_the_task(agent, ["deploy the billing service"], "a")
    assert vector_index.graph_refresh(agent.pk) == 0
    assert vector_index.vectors_for(agent.pk).graph is None
    assert not list(settings.VAR_DIR.glob("**/*.usearch"))


def test_a_saved_copy_whose_graph_file_is_gone_loads_without_a_graph(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    vectors = _vectors(_texts(50, seed=5))
    vectors.version = 1
    graph_update(vectors)
    index_module.vectors_save(agent_id=9, vectors=vectors, agent_created_us=123)
    for graph_file in tmp_path.glob("**/*.usearch"):
        graph_file.unlink()
    embedder = embedder_get()
    loaded = index_module.vectors_load(agent_id=9, model=embedder.name, dim=embedder.dim, agent_created_us=123, version=1)
    # The arrays are still good: every row is scored exactly until the task saves a new graph.
    assert loaded is not None
    assert loaded.graph is None
    assert loaded.ungraphed[:50].all()
    query = embedder.embed(["release notes"])[0]
    assert rank_semantic(vectors=loaded, query_vector=query, limit=5) == rank_exact(vectors=vectors, query_vector=query, limit=5)


@pytest.mark.django_db
def test_a_process_saves_over_the_copy_it_has_mapped(graphed, monkeypatch):
    # The worker restarts, maps its own last copy, and the task saves a graph at the same version.
    monkeypatch.setattr(index_module, "GRAPH_AFTER_ROWS", 10**6)
    agent = make_agent()
    episode_from(agent, conversation(contents=["deploy the billing service"], session_id="a"))
    episode_from(agent, conversation(contents=["bake a chocolate cake"], session_id="b"))
    vector_index.graph_refresh(agent.pk)
    vector_index.clear()
    mapped = vector_index.vectors_for(agent.pk)
    assert mapped.graph is not None
    mapped.ungraphed[:2] = True
    monkeypatch.setattr(index_module, "GRAPH_AFTER_ROWS", 1)
    assert vector_index.graph_refresh(agent.pk) == 2
    vector_index.clear()
    again = vector_index.vectors_for(agent.pk)
    assert again.size == 2
    assert again.graph is not None
    assert len(again.graph) == 2
