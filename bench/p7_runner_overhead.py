"""P7: a regression run through Celery vs plain pytest on the same node ids.

Both run the same generated suite (a few hundred short tests); the Celery side is measured from the
trigger to the run being final (worker pick-up, pytest with JUnit XML, report log and progress,
result storage, attachment, status rules). Target: wall-time ratio ≤ 1.15.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Result, median

ID = "P7"


def make_suite(root: Path, *, tests: int, sleep: float, per_file: int = 50) -> list[str]:
    """Write a pytest project of ``tests`` tests that each sleep; return their node ids."""
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "tests").mkdir(parents=True, exist_ok=True)
    node_ids = []
    for start in range(0, tests, per_file):
        name = f"tests/test_gen_{start // per_file}.py"
        count = min(per_file, tests - start)
        body = "import time\n\n" + "".join(f"def test_{n}():\n    time.sleep({sleep})\n\n" for n in range(count))
        (root / name).write_text(body)
        node_ids += [f"{name}::test_{n}" for n in range(count)]
    return node_ids


def run_and_wait(*, deadline_seconds: float = 600.0, **trigger: Any) -> float:
    """Trigger a run and return the seconds until it is final; fail once ``deadline_seconds`` have passed
    (a run no worker serves must end the benchmark with an error, not hang it)."""
    from bugs.models import TERMINAL_RUN_STATUSES, Run
    from bugs.services.runs import run_trigger

    start = time.perf_counter()
    run = run_trigger(trigger=Run.Trigger.CLI, **trigger)
    while (status := Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()) not in TERMINAL_RUN_STATUSES:
        if time.perf_counter() - start > deadline_seconds:
            raise RuntimeError(f"run #{run.pk} not final after {deadline_seconds:.0f} s (still {status}): do its workers serve its queue?")
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    final = Run.objects.get(pk=run.pk)
    if final.status not in ("passed",):
        raise RuntimeError(f"run #{run.pk} ended {final.status}: {final.error_message[:500]}")
    return seconds


def plain_pytest(root: Path, node_ids: list[str], env: dict[str, str]) -> float:
    """Plain pytest on the same tests, in the same clean environment the runner gives a suite."""
    args_file = root / "plain-args.txt"
    args_file.write_text("".join(f"{n}\n" for n in node_ids))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"@{args_file}"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def run(scale: float) -> list[Result]:
    from django.db import connection

    from atom.testing import worker_start, worker_stop
    from bugs.models import Suite
    from bugs.services.shards import pytest_env

    tests = max(40, int(400 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        node_ids = make_suite(root, tests=tests, sleep=0.02)
        suite = Suite.objects.create(name="bench-p7", checkout_path=str(root), timeout_seconds=600)
        worker = worker_start()
        try:
            run_and_wait(suite=suite, node_ids=node_ids[:1])  # the worker is up and warm
            celery_times, plain_times = [], []
            for _ in range(5):
                plain_times.append(plain_pytest(root, node_ids, pytest_env(suite)))
                celery_times.append(run_and_wait(suite=suite, node_ids=node_ids))
        finally:
            worker_stop(worker)
    ratio = median(celery_times) / median(plain_times)
    return [
        Result(
            ID,
            f"run of {tests} tests through Celery",
            median(celery_times),
            "s",
            "ratio ≤ 1.15",
            median(plain_times),
            ratio,
            connection.vendor,
            scale,
        )
    ]
