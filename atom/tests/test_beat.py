"""Celery beat starts from a fresh var directory whatever the broker, and stays up."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from atom.testing import worker_env


def _broker(kind: str) -> str:
    # memory:// stands for any broker that is not the embedded one: nothing under var/ is made for it.
    return settings.REDIS_URL if kind == "redis" else "memory://"


@pytest.mark.regression("BUG-082")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("broker", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_p1_crash_beat_on_a_fresh_var_dir_with_another_broker_regression(tmp_path, broker):
    """BUG-082 (P1, crash): with Redis as the broker, `celery beat` died at start on a fresh var directory.

    Settings created var/celery/ only for the embedded (filesystem) broker, so beat's schedule file
    had no folder: ``FileNotFoundError …/celery/beat-schedule.dat``. Under ``worker --beat`` the
    crash was silent, so stale runs were never reaped and proposals never expired. Here beat starts
    on a var directory that does not exist yet, with a broker that is not the embedded one.
    """
    var_dir = tmp_path / "fresh-var"
    env = worker_env(ATOM_VAR_DIR=str(var_dir), CELERY_BROKER_URL=_broker(broker), ATOM_CELERY_QUEUE=f"beat-{uuid.uuid4().hex[:8]}")
    env.pop("ATOM_SQLITE_PATH", None)
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "atom", "beat", "--loglevel", "INFO"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and beat.poll() is None and not list((var_dir / "celery").glob("beat-schedule*")):
                time.sleep(0.2)
            time.sleep(1)
            assert beat.poll() is None, log.read_text()[-3000:]
            assert list((var_dir / "celery").glob("beat-schedule*")), log.read_text()[-3000:]
        finally:
            beat.terminate()
            beat.wait(20)
