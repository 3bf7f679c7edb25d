"""A worker killed with -9 mid-run: beat's reaper hands the run to a live worker within two leases.

Runs on the broker of the test run (the embedded one, or Redis under CI), whose visibility timeout
(an hour) is far longer than the lease: the run must not wait for the broker to give the message back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from atom.testing import wait_until, worker_env
from bugs.models import Run, RunShard
from bugs.services.runs import run_trigger
from bugs.tasks import run_shard_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE = 5
# Beat's reaper every lease (its floor is 5 s): a dead worker's lease ends within one lease of its
# last heartbeat, and the next sweep comes within one more.
TIMING = {"ATOM_BUGS_LEASE_SECONDS": str(LEASE), "ATOM_BUGS_REAP_INTERVAL_SECONDS": str(LEASE)}
# A queue of this test's own: no other worker of the test run may take the shard, and beat's reaper
# (running in these workers) sends the shard back to it.
QUEUE = f"reaped-{uuid.uuid4().hex[:8]}"


def _celery(*args: str, name: str) -> subprocess.Popen[bytes]:
    log = open(settings.VAR_DIR / f"{name}-{uuid.uuid4().hex[:6]}.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "celery", "-A", "atom", *args]
    env = worker_env(**TIMING, ATOM_CELERY_QUEUE=QUEUE)
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


def _worker(name: str) -> subprocess.Popen[bytes]:
    return _celery(
        "worker", "--pool", "solo", "--queues", QUEUE, "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", name=name,
    )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.mark.timeout(150)
def test_a_killed_workers_run_resumes_within_two_leases_whatever_the_visibility_timeout(project, suite_for, settings, monkeypatch):
    settings.ATOM_BUGS_LEASE_SECONDS = LEASE
    monkeypatch.setattr(run_shard_task, "delay", lambda *args: run_shard_task.apply_async(args, queue=QUEUE))
    project.write("tests/test_a.py", "import time\n\ndef test_first():\n    pass\n\ndef test_slow():\n    time.sleep(4)\n")
    project.commit("tests")
    assert settings.CELERY_VISIBILITY_TIMEOUT >= 10 * LEASE
    beat = _celery("beat", "--loglevel", "INFO", "--schedule", str(settings.VAR_DIR / f"beat-{uuid.uuid4().hex[:6]}"), name="beat")
    # Two workers from the start (as after a scale-out): whichever claims the shard is killed.
    workers = [_worker("first"), _worker("second")]
    try:
        run = run_trigger(suite=suite_for(project), trigger=Run.Trigger.API)
        shard = run.shards.get()
        wait_until(lambda: RunShard.objects.get(pk=shard.pk).done >= 1, timeout=60, message="the first test to finish")
        holder = int(RunShard.objects.get(pk=shard.pk).claimed_by.rpartition(":")[2])
        doomed = next(worker for worker in workers if worker.pid == holder)
        os.kill(doomed.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.wait(10)
        wait_until(lambda: RunShard.objects.get(pk=shard.pk).attempts >= 2, timeout=4 * LEASE + 20, message="the run to resume")
        resumed_after = time.monotonic() - killed_at
        # At most one lease until the claim expires and one reaper interval (= one lease) until it is
        # handed out again, plus a poll of the queue.
        assert resumed_after <= 2 * LEASE + 3, resumed_after
        wait_until(lambda: Run.objects.get(pk=run.pk).status not in ("queued", "running"), timeout=60, message="the run to finish")
        assert Run.objects.get(pk=run.pk).status == "passed"
        assert beat.poll() is None
    finally:
        for process in (*workers, beat):
            _stop(process)
