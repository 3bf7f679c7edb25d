"""The benchmarks finish: a benchmark's workers serve only its own database, and waiting for a run
that never ends fails loudly instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
_SETUP = (
    "from bench.harness import django_setup\n"
    "django_setup('sqlite')\n"
    "from django.conf import settings\n"
    "import json, pathlib, shutil\n"
    "print(json.dumps([settings.CELERY_TASK_DEFAULT_QUEUE, settings.CACHE_KEY_PREFIX]))\n"
    "from django.db import connection\n"
    "connection.close()\n"
    "for suffix in ('', '-wal', '-shm'):\n"
    "    pathlib.Path(str(settings.DATABASES['default']['NAME']) + suffix).unlink(missing_ok=True)\n"
    "shutil.rmtree(settings.VAR_DIR, ignore_errors=True)\n"
)


def _bench_names() -> tuple[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ATOM_") and key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    finished = subprocess.run(  # nosec B603 - this interpreter, on the script above
        [sys.executable, "-c", _SETUP], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    queue, prefix = json.loads(finished.stdout.strip().splitlines()[-1])
    return queue, prefix


@pytest.mark.regression("BUG-100")
def test_each_benchmark_process_has_its_own_queue_and_cache_prefix():
    first, second = _bench_names(), _bench_names()
    # The defaults are shared by every Atom process on the broker: a worker of another benchmark (or of
    # a server) would take this benchmark's shards and run them against its own database.
    assert first[0] != "celery"
    assert first[1] != "atom"
    assert first != second


@pytest.mark.regression("BUG-100")
@pytest.mark.django_db
def test_waiting_for_a_run_that_never_ends_fails_after_its_deadline(tmp_path):
    from bench.p7_runner_overhead import run_and_wait
    from bugs.models import Suite

    suite = Suite.objects.create(name="never-served", checkout_path=str(tmp_path), timeout_seconds=60)
    began = time.monotonic()
    # No worker serves this run: it stays queued.
    with pytest.raises(RuntimeError, match="not final"):
        run_and_wait(suite=suite, node_ids=["tests/test_x.py::test_x"], deadline_seconds=1.0)
    assert time.monotonic() - began < 30
