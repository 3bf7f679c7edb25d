"""A run's live progress: done grows, and the total appears once, when every shard has collected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bugs.admin import run_progress_data
from bugs.models import Run, RunShard
from bugs.services.runs import run_trigger
from bugs.services.shards import _heartbeat

pytestmark = pytest.mark.django_db


def test_a_sharded_runs_total_waits_for_every_shard_to_collect(project, suite_for, monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    node_ids = [f"tests/test_a.py::test_{n}" for n in range(4)]
    run = run_trigger(suite=suite_for(project), node_ids=node_ids, shards=2, trigger=Run.Trigger.API)
    assert run_progress_data(run)["collecting"]
    lease = timezone.now() + timedelta(seconds=60)
    first, second = RunShard.objects.filter(run=run).order_by("index")
    for shard in (first, second):
        RunShard.objects.filter(pk=shard.pk).update(status="running", attempts=1, claimed_by="w:1", lease_expires_at=lease)
        shard.attempts = 1
    Run.objects.filter(pk=run.pk).update(status="running")

    assert _heartbeat(shard=first, worker="w:1", done=1, total=6)
    assert _heartbeat(shard=second, worker="w:1", done=0, total=None)
    run.refresh_from_db()
    assert (run.done, run.total) == (1, 0)
    assert run_progress_data(run)["collecting"]

    assert _heartbeat(shard=second, worker="w:1", done=2, total=2)
    run.refresh_from_db()
    assert (run.done, run.total) == (3, 8)
    assert not run_progress_data(run)["collecting"]
