"""P8: an I/O-bound suite split into 4 shards on 4 workers vs 1 shard.

The generated tests sleep, so the speed-up measures the runner's parallelism (chord of shards,
merge into one run), not the machine's cores. Each shard pays one pytest start-up; the suite turns
plugin autoloading off (it needs none), as a suite registered by an admin can.
Target: speed-up ≥ 3.2 (0.8 N for N = 4).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.harness import Result, median
from bench.p7_runner_overhead import make_suite, run_and_wait

ID = "P8"
SHARDS = 4


def run(scale: float) -> list[Result]:
    from django.db import connection

    from atom.testing import worker_start, worker_stop
    from bugs.models import Result as TestResult
    from bugs.models import Run, Suite

    tests = max(40, int(480 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        node_ids = make_suite(root, tests=tests, sleep=0.1, per_file=10)
        # The generated suite needs no third-party plugin: skip autoloading them (about 1 s per pytest start).
        suite = Suite.objects.create(
            name="bench-p8", checkout_path=str(root), timeout_seconds=600, environment={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        )
        workers = [worker_start() for _ in range(SHARDS)]
        try:
            run_and_wait(suite=suite, node_ids=node_ids[:SHARDS], shards=SHARDS)  # every worker is up
            one, four = [], []
            for _ in range(2):
                one.append(run_and_wait(suite=suite, node_ids=node_ids, shards=1))
                four.append(run_and_wait(suite=suite, node_ids=node_ids, shards=SHARDS))
        finally:
            for worker in workers:
                worker_stop(worker)
        sharded, single = Run.objects.filter(suite=suite).order_by("-id")[:2]
        outcomes = [sorted(TestResult.objects.filter(run=r).values_list("node_id", "outcome")) for r in (sharded, single)]
        if outcomes[0] != outcomes[1] or len(outcomes[0]) != tests:
            raise RuntimeError("the sharded run's results differ from the single shard's")
    speedup = median(one) / median(four)
    return [
        Result(
            ID,
            f"{SHARDS} shards on {SHARDS} workers, {tests} tests",
            median(four),
            "s",
            "speed-up ≥ 3.2",
            median(one),
            speedup,
            connection.vendor,
            scale,
        )
    ]
