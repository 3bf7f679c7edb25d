"""P5: retrieval over 100,000 episodes / 1,000,000 segments of one agent.

Targets: temporal and sequential p95 <= 5 ms, semantic top-10 p95 <= 25 ms. Each figure is the full
service call the API view makes (``episodes_retrieve``: governance decision with its audit row, the
read, the access-log row); the baseline, timed interleaved with it, is the bare read (the selector, or
for semantic the in-memory ranking alone), so the ratio is the price of governance and logging.

The data is written straight into the tables with the driver's bulk path (COPY / executemany): P4
measures the product's write path; here only the reads are under test. Every episode carries a real
vector from the configured embedder, so semantic search ranks real vectors.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bench.harness import Result, interleaved, percentile

ID = "P5"
SEGMENTS_PER_EPISODE = 10
_SUBJECTS = [
    "billing service",
    "login test",
    "database migration",
    "api keys",
    "invoice report",
    "mobile release",
    "search index",
    "celery worker",
]
_VERBS = ["deploy", "debug", "plan", "rotate", "summarize", "review", "rebuild", "monitor"]
_DETAILS = [
    "on staging",
    "after the outage",
    "for the audit",
    "before the release",
    "with the new schema",
    "under load",
    "for a customer",
    "overnight",
]


def _insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from django.db import connection

    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(tuple(str(value.replace(tzinfo=None)) if isinstance(value, datetime) else value for value in row))
            if len(batch) == 5000:
                cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", batch)
                batch = []
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", batch)


def _title(index: int) -> str:
    return f"{_VERBS[index % 8]} the {_SUBJECTS[(index // 8) % 8]} {_DETAILS[(index // 64) % 8]} #{index}"


def _build(agent_id: int, count: int, now: datetime, *, first_id: int = 1, segments: bool = True) -> None:
    """``count`` episodes (ids from ``first_id``) of one agent, spread over the last 80 days, each with
    its session and (unless told not to) SEGMENTS_PER_EPISODE segments, and the agent's index version."""
    from django.db import transaction

    from episodes.embeddings import embedder_get, vector_to_bytes
    from episodes.models import AgentSession, Episode, MemoryIndexVersion, Segment

    embedder = embedder_get()
    start = now - timedelta(days=80)
    step = timedelta(days=79) / count
    with transaction.atomic():
        _insert(
            AgentSession._meta.db_table,
            ["id", "agent_id", "key", "next_seq", "last_at", "created_at"],
            ((first_id + i - 1, agent_id, f"s{i}", 40, start + i * step, now) for i in range(1, count + 1)),
        )
        columns = [
            "id", "agent_id", "session_id", "title", "summary", "started_at", "ended_at", "status", "outcome", "topics",
            "importance", "decay", "maturity", "interaction_count", "segment_count", "segmented_through", "interventions",
            "constitutional_score_sum", "constitutional_score_count", "embedding", "embedding_model", "index_version",
            "consolidation_checked", "outcome_recorded", "created_at", "updated_at",
        ]  # fmt: skip

        def episodes() -> Iterable[Sequence[Any]]:
            for offset in range(0, count, 2000):
                ids = range(offset + 1, min(count, offset + 2000) + 1)
                vectors = embedder.embed([_title(i) for i in ids])
                for i, vector in zip(ids, vectors, strict=True):
                    began = start + i * step
                    pk = first_id + i - 1
                    yield (
                        pk, agent_id, pk, _title(i), _title(i), began, began + timedelta(minutes=40), "completed", "unknown",
                        json.dumps(["bench"]), (i % 100) / 100, 1.0, "INTERN", 40, SEGMENTS_PER_EPISODE, 39, 0, 0.0, 0,
                        vector_to_bytes(vector), embedder.name, 1, True, False, now, now,
                    )  # fmt: skip

        _insert(Episode._meta.db_table, columns, episodes())

        def segment_rows() -> Iterable[Sequence[Any]]:
            for i in range(1, count + 1):
                began = start + i * step
                pk = first_id + i - 1
                for order in range(SEGMENTS_PER_EPISODE):
                    at = began + timedelta(minutes=4 * order)
                    yield (
                        pk * SEGMENTS_PER_EPISODE + order,
                        pk,
                        order,
                        "conversation",
                        order * 4,
                        order * 4 + 3,
                        at,
                        at + timedelta(minutes=3),
                        "segment",
                    )

        if segments:
            _insert(
                Segment._meta.db_table,
                ["id", "episode_id", "order", "kind", "seq_start", "seq_end", "started_at", "ended_at", "preview"],
                segment_rows(),
            )
        MemoryIndexVersion.objects.create(agent_id=agent_id, version=1)


def run(scale: float) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from episodes import ranking, selectors
    from episodes.embeddings import embedder_get
    from episodes.models import RetrievalMode
    from episodes.services.retrieval import RetrievalQuery, episodes_retrieve
    from episodes.vector_index import vector_index
    from governance.models import Agent, Maturity

    count = max(1000, int(100_000 * scale))
    owner = get_user_model().objects.create_user(username="bench-p5", password="bench-password-123")
    agent = Agent.objects.create(owner=owner, name="bench-memory", maturity=Maturity.INTERN, confidence="0.6")
    now = timezone.now()
    began = time.perf_counter()
    _build(agent.pk, count, now)
    build_seconds = time.perf_counter() - began
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    rng = random.Random(5)
    samples = max(100, int(500 * min(1.0, scale * 10)))
    database = connection.vendor

    def window() -> tuple[datetime, datetime]:
        since = now - timedelta(days=rng.uniform(1, 80))
        return since, since + timedelta(days=2)

    def temporal() -> None:
        since, until = window()
        episodes_retrieve(actor=owner, agent_id=agent.pk, query=RetrievalQuery(mode=RetrievalMode.TEMPORAL, since=since, until=until))

    def temporal_bare() -> None:
        since, until = window()
        read = selectors.episodes_temporal_read(agent_id=agent.pk, since=since, until=until, include_archived=False, limit=50)
        selectors.episode_rows(selectors.read_rows(read))

    def sequential() -> None:
        episodes_retrieve(
            actor=owner, agent_id=agent.pk, query=RetrievalQuery(mode=RetrievalMode.SEQUENTIAL, episode_id=rng.randint(1, count))
        )

    def sequential_bare() -> None:
        read = selectors.episode_sequential_read(agent_id=agent.pk, episode_id=rng.randint(1, count), after=-1, limit=50)
        episode, _segments = selectors.sequential_rows(selectors.read_rows(read))
        assert episode is not None

    queries = [f"{_VERBS[i % 8]} {_SUBJECTS[(i * 3) % 8]} {_DETAILS[(i * 5) % 8]}" for i in range(64)]

    def semantic() -> None:
        episodes_retrieve(actor=owner, agent_id=agent.pk, query=RetrievalQuery(mode=RetrievalMode.SEMANTIC, text=rng.choice(queries)))

    def semantic_bare() -> None:
        vector = embedder_get().embed([rng.choice(queries)])[0]
        ranking.rank_semantic(vectors=vector_index.vectors_for(agent.pk), query_vector=vector, limit=10)

    # The first process to meet the agent reads every vector from the database and saves the index
    # file; a fresh process (here: the in-memory index forgotten) then maps that file.
    began = time.perf_counter()
    built = vector_index.vectors_for(agent.pk)
    build_ms = (time.perf_counter() - began) * 1000
    # The segmentation task's step after each session: the search graph, here built at once.
    began = time.perf_counter()
    graphed = vector_index.graph_refresh(agent.pk)
    graph_s = time.perf_counter() - began
    vector_index.clear()
    began = time.perf_counter()
    mapped = vector_index.vectors_for(agent.pk)
    cold_ms = (time.perf_counter() - began) * 1000
    # What the mapped copy serves (through its graph when it has one) against the exact scan.
    query_vectors = embedder_get().embed(queries)
    found = [
        len({pk for pk, _ in ranking.rank_semantic(vectors=mapped, query_vector=vector, limit=10)}
            & {pk for pk, _ in ranking.rank_exact(vectors=built, query_vector=vector, limit=10)}) / 10
        for vector in query_vectors
    ]  # fmt: skip
    recall = sum(found) / len(found)
    results = [
        Result(
            ID,
            f"build {count} episodes / {count * SEGMENTS_PER_EPISODE} segments",
            build_seconds,
            "s",
            "setup",
            None,
            None,
            database,
            scale,
        )
    ]
    for name, measured, bare, target in (
        ("temporal", temporal, temporal_bare, "p95 <= 5 ms"),
        ("sequential", sequential, sequential_bare, "p95 <= 5 ms"),
        ("semantic top-10", semantic, semantic_bare, "p95 <= 25 ms"),
    ):
        full, baseline = interleaved(measured, bare, count=samples)
        p95, base95 = percentile(full, 95), percentile(baseline, 95)
        results.append(Result(ID, f"{name} p95 (governed + logged)", p95, "ms", target, base95, p95 / base95, database, scale))
        # The median too: on a shared machine the tail is mostly other processes' noise.
        p50, base50 = percentile(full, 50), percentile(baseline, 50)
        results.append(Result(ID, f"{name} p50 (governed + logged)", p50, "ms", "", base50, p50 / base50, database, scale))
    results.append(Result(ID, "semantic index build from the database", build_ms, "ms", "once per agent", None, None, database, scale))
    graph = f"search graph build ({graphed} rows, the segmentation task's refresh)"
    results.append(Result(ID, graph, graph_s, "s", "once, then incremental", None, None, database, scale))
    cold = Result(ID, "semantic index cold load (file on disk)", cold_ms, "ms", "<= 200 ms", build_ms, cold_ms / build_ms, database, scale)
    results.append(cold)
    results.append(Result(ID, "semantic recall@10, served vs exact scan", recall, "", ">= 0.95", None, None, database, scale))
    return results
