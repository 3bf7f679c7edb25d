"""The periodic regression run: one at a time, whatever the beat and the broker deliver."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bugs.models import Run, RunStatus
from bugs.tasks import scheduled_regression_run_task

pytestmark = pytest.mark.django_db


@pytest.mark.regression("BUG-048")
def test_p3_cost_leak_scheduled_run_delivered_twice_regression():
    """BUG-048 (P3, cost leak): a beat message delivered twice queued two full regression runs.

    The task is acknowledged late, so a worker lost after starting it gets the message again, and a
    slow run overlapped the next tick; each delivery queued another run of the whole suite. Fix: the
    scheduled trigger locks the suite row and returns the scheduled run still queued or running
    instead of queueing another (commit recorded in the catalog).
    """
    first = scheduled_regression_run_task.apply(task_id="beat-tick-1").get()
    second = scheduled_regression_run_task.apply(task_id="beat-tick-1").get()
    assert first == second
    assert Run.objects.filter(trigger=Run.Trigger.SCHEDULE).count() == 1


def test_the_next_tick_after_a_finished_run_queues_a_new_one():
    first = scheduled_regression_run_task.apply().get()
    Run.objects.filter(pk=first).update(status=RunStatus.PASSED, started_at=timezone.now(), finished_at=timezone.now())
    second = scheduled_regression_run_task.apply().get()
    assert second != first
    assert Run.objects.filter(trigger=Run.Trigger.SCHEDULE).count() == 2
