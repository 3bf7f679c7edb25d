"""What every benchmark shares: Django set-up on a scratch database, timing, and the result record.

Each benchmark module ``bench/p<N>_<name>.py`` defines ``ID`` and ``run(scale: float) -> list[Result]``.
``python -m bench`` runs every module once per database in its own process (Django's settings load
once per process) and gathers the results into var/bench/results.json.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
# ATOM_BENCH_DIR moves the results (the smoke tests run a benchmark without touching a real run's figures).
BENCH_DIR = Path(os.environ.get("ATOM_BENCH_DIR") or BASE_DIR / "var" / "bench")


@dataclass
class Result:
    """One line of the results table (the shape QUALITY part C asks for)."""

    id: str
    metric: str
    value: float
    unit: str
    target: str
    baseline: float | None = None
    ratio: float | None = None
    database: str = "sqlite"
    scale: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def django_setup(database: str) -> str:
    """Configure Django on a fresh scratch database of the given kind and migrate it; return its vendor."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["ATOM_ENV"] = "test"
    os.environ["ATOM_VAR_DIR"] = str(BENCH_DIR / f"run-{os.getpid()}")
    # A queue and cache keys of this process alone (as the test settings do): on a shared broker the
    # default queue is served by any Atom worker, attached to any database, and every scratch database
    # numbers its runs and shards from 1, so a foreign worker would take this benchmark's shards.
    os.environ["ATOM_CELERY_QUEUE"] = f"atom-bench-{os.getpid()}"
    os.environ["ATOM_CACHE_PREFIX"] = f"atom-bench-{os.getpid()}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "atom.settings"
    if database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        os.environ["ATOM_SQLITE_PATH"] = str(BENCH_DIR / f"bench-{os.getpid()}.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        _postgres_fresh_database()
    call_command("migrate", verbosity=0)
    return str(connection.vendor)


def _postgres_fresh_database() -> None:
    """Point the connection at a new, empty bench database (dropped and recreated each run)."""
    from django.db import connection

    name = f"atom_bench_{os.getpid()}"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    connection.settings_dict["NAME"] = name


def postgres_drop_bench_database() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    name = connection.settings_dict["NAME"]
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def time_calls(fn: Callable[[], Any], *, count: int, warmup: int = 20) -> list[float]:
    """Call fn count times after a warm-up; return each call's duration in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def interleaved(fn_a: Callable[[], Any], fn_b: Callable[[], Any], *, count: int, warmup: int = 20) -> tuple[list[float], list[float]]:
    """Time two calls alternately so that machine noise falls on both alike."""
    a, b = interleaved_many([fn_a, fn_b], count=count, warmup=warmup)
    return a, b


def interleaved_many(fns: list[Callable[[], Any]], *, count: int, warmup: int = 20) -> list[list[float]]:
    """Time any number of calls in turn, round after round; one list of milliseconds per call."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(count):
        for fn, out in zip(fns, samples, strict=True):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)
