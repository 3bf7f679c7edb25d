"""P4: segmentation and storage of 1,000,000 interactions (target >= 50,000/s, peak memory <= 300 MB).

The measured path is the product's: ``interactions_ingest`` in batches of the API's maximum size
(validation done, sequence numbers handed out under the session lock, bulk insert), then
``episode_segment`` for every session (streaming in chunks: embed, segment, bulk-write segments,
derive the episode). Side by side in the same run, the baseline is a plain ``bulk_create`` of the
same interaction rows, nothing else. Peak memory is the process's resident set size, sampled every
20 ms during each phase (so the two phases are compared on the same footing); the segmentation task
is not enqueued because the benchmark runs segmentation itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from unittest import mock

from bench.harness import Result

ID = "P4"
SESSION_SIZE = 10_000
BATCH = 1000
_TOPICS = [
    "deploy the billing service to staging and watch the error rate",
    "the flaky login test times out when the token expires",
    "plan the database migration and rebuild the index offline",
    "rotate the api keys and restart the celery workers",
    "summarize the customer complaints about slow invoices",
    "draft the release notes for the mobile application",
]
_VARIANTS = ["now", "again", "please", "step two", "carefully", "before noon", "with logs", "for review"]
_ROLES = ["user", "agent", "tool", "agent"]


class PeakRss:
    """Samples this process's resident set size in a thread; ``peak_mb`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = __import__("os").sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        with open("/proc/self/statm") as statm:
            self.peak = max(self.peak, int(statm.read().split()[1]) * self._page)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        return self.peak / (1024 * 1024)


def _rows(session_index: int, size: int, start: datetime) -> Iterator[tuple[int, str, str, datetime]]:
    """Deterministic interactions: a topic holds for 20-60 steps, a pause over 30 minutes now and then."""
    at = start
    for seq in range(size):
        topic = _TOPICS[(seq // (20 + (session_index + seq // 97) % 41) + session_index) % len(_TOPICS)]
        at += timedelta(minutes=45) if seq % 613 == 612 else timedelta(seconds=20)
        yield seq, _ROLES[seq % 4], f"{topic} {_VARIANTS[seq % len(_VARIANTS)]} #{seq}", at


def run(scale: float) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from episodes.models import AgentSession, Interaction, Segment
    from episodes.services.ingestion import InteractionInput, interactions_ingest
    from episodes.services.segmenting import episode_segment
    from governance.models import Agent

    total = max(BATCH, int(1_000_000 * scale))
    sessions = max(1, total // SESSION_SIZE)
    per_session = total // sessions
    total = sessions * per_session
    owner = get_user_model().objects.create_user(username="bench-p4", password="bench-password-123")
    measured = Agent.objects.create(owner=owner, name="bench-measured")
    baseline_agent = Agent.objects.create(owner=owner, name="bench-baseline")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    database = connection.vendor

    # Baseline: a plain bulk insert of the same rows. Each session's raw rows are generated before its
    # timer starts (both sides alike), so the figures measure the database path, not the generator.
    with PeakRss() as baseline_rss:
        baseline_seconds = 0.0
        for index in range(sessions):
            rows = list(_rows(index, per_session, start))
            began = time.perf_counter()
            session = AgentSession.objects.create(agent=baseline_agent, key=f"s{index}")
            for offset in range(0, len(rows), BATCH):
                with transaction.atomic():
                    Interaction.objects.bulk_create(
                        [
                            Interaction(
                                agent=baseline_agent, session=session, seq=seq, role=role, content=content, timestamp=at, metadata={}
                            )
                            for seq, role, content, at in rows[offset : offset + BATCH]
                        ]
                    )
            baseline_seconds += time.perf_counter() - began

    # Measured: ingestion through the service in API-sized batches, then segmentation of every session.
    with PeakRss() as measured_rss, mock.patch("episodes.services.ingestion._segmentation_enqueuer", return_value=lambda: None):
        ingest_seconds = 0.0
        for index in range(sessions):
            rows = list(_rows(index, per_session, start))
            began = time.perf_counter()
            for offset in range(0, len(rows), BATCH):
                items = [
                    InteractionInput(session_id=f"s{index}", role=role, content=content, timestamp=at)
                    for _seq, role, content, at in rows[offset : offset + BATCH]
                ]
                interactions_ingest(actor=owner, agent_id=measured.pk, items=items)
            ingest_seconds += time.perf_counter() - began
        began = time.perf_counter()
        for session_pk in AgentSession.objects.filter(agent=measured).order_by("id").values_list("id", flat=True):
            episode_segment(session_pk=session_pk)
        segment_seconds = time.perf_counter() - began

    measured_seconds = ingest_seconds + segment_seconds
    segments = Segment.objects.filter(episode__agent=measured).count()
    rate = total / measured_seconds
    baseline_rate = total / baseline_seconds
    return [
        Result(ID, "segment + store interactions/s", rate, "items/s", ">= 50000/s", baseline_rate, rate / baseline_rate, database, scale),
        Result(ID, "  of which ingest (validated, locked, bulk)", total / ingest_seconds, "items/s", "", None, None, database, scale),
        Result(ID, "  of which segmentation (embed, cut, write)", total / segment_seconds, "items/s", "", None, None, database, scale),
        Result(
            ID,
            f"peak RSS ({total} interactions, {segments} segments)",
            measured_rss.peak_mb,
            "MB",
            "<= 300 MB",
            baseline_rss.peak_mb,
            measured_rss.peak_mb / baseline_rss.peak_mb,
            database,
            scale,
        ),
    ]
