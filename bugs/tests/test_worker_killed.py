"""A worker killed with SIGKILL mid-run: the run is finished by another worker, results recorded once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from atom.testing import wait_until, worker_env
from bugs.models import Result, Run, RunShard
from bugs.services.runs import run_trigger
from bugs.services.shards import run_reap_stale
from bugs.tasks import run_shard_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE = "2"


def _worker(queue: str) -> subprocess.Popen[bytes]:
    """A worker on a private queue, so no other worker of this test run can take the shard."""
    log = open(settings.VAR_DIR / f"killed-worker-{uuid.uuid4().hex}.log", "wb")  # noqa: SIM115
    command = [
        sys.executable, "-m", "celery", "-A", "atom", "worker", "--pool", "solo", "--queues", queue,
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--hostname", f"{queue}-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=worker_env(ATOM_BUGS_LEASE_SECONDS=LEASE), stdout=log, stderr=subprocess.STDOUT
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_a_run_whose_worker_is_killed_is_finished_by_another_worker_without_duplicates(project, suite_for, monkeypatch):
    project.write(
        "tests/test_a.py",
        "import time\n\ndef test_first():\n    pass\n\ndef test_slow():\n    time.sleep(2)\n\ndef test_last():\n    pass\n",
    )
    project.commit("tests")
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    monkeypatch.setattr(run_shard_task, "delay", lambda *args: run_shard_task.apply_async(args, queue=queue))
    run = run_trigger(suite=suite_for(project), trigger=Run.Trigger.API)
    shard = run.shards.get()

    first = _worker(queue)
    try:
        run_shard_task.apply_async((shard.pk, True), queue=queue)
        wait_until(lambda: RunShard.objects.get(pk=shard.pk).done >= 1, timeout=60, message="the first test to finish")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        _stop(first)
    assert Run.objects.get(pk=run.pk).status == "running"

    second = _worker(queue)
    try:
        wait_until(
            lambda: (RunShard.objects.get(pk=shard.pk).lease_expires_at or timezone.now()) < timezone.now(),
            timeout=10,
            message="the lease to expire",
        )
        time.sleep(0.2)
        assert run_reap_stale() == 1
        wait_until(lambda: Run.objects.get(pk=run.pk).status not in ("queued", "running"), timeout=60, message="the run to finish")
    finally:
        _stop(second)
    run.refresh_from_db()
    shard.refresh_from_db()
    assert run.status == "passed"
    assert shard.attempts == 2
    assert sorted(Result.objects.filter(run=run).values_list("node_id", flat=True)) == [
        "tests/test_a.py::test_first",
        "tests/test_a.py::test_last",
        "tests/test_a.py::test_slow",
    ]


def test_a_shard_lost_on_every_attempt_leaves_the_run_re_runnable_not_running(project, suite_for, monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    project.write("tests/test_a.py", "def test_a():\n    pass\n")
    project.commit("tests")
    run = run_trigger(suite=suite_for(project), trigger=Run.Trigger.API)
    RunShard.objects.filter(run=run).update(
        status="running",
        attempts=settings.ATOM_BUGS_MAX_ATTEMPTS,
        claimed_by="gone:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Run.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    assert run_reap_stale() == 1
    run.refresh_from_db()
    assert run.status == "error"
    assert run.finished_at is not None
    assert "triggered again" in run.error_message
