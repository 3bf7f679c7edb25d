"""The test run's shared worker: it takes the tasks of the tests that ask for it, and only theirs.

The first two tests run in this order: the first starts the run's shared worker (it lives until the run
ends), the second is a test that did not ask for it.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from atom.celery import app
from atom.tasks import ping
from atom.testing import queue_purge, worker_drain

pytestmark = pytest.mark.worker


def test_a_test_that_asks_for_the_worker_has_its_tasks_run(celery_worker_process):
    assert ping.delay().get(timeout=60) == "pong"
    assert celery_worker_process.poll() is None


@pytest.mark.regression("BUG-162")
def test_p2_infrastructure_shared_worker_runs_tasks_of_tests_that_did_not_ask_for_it_regression():
    """BUG-162 (P2, infrastructure): the run's shared worker took every test's tasks.

    A transactional test that never asked for a worker still sends tasks (a finished run tells the
    notifications). The shared worker, started by an earlier test, ran them while the test's teardown
    emptied the database; PostgreSQL found the two deadlocked and the teardown failed.
    """
    result = ping.delay()
    try:
        time.sleep(2)
        assert not result.ready(), "the shared worker ran a task of a test that did not ask for it"
    finally:
        queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)


def test_once_drained_the_worker_has_run_every_task_the_test_sent(celery_worker_process):
    results = [ping.delay() for _ in range(20)]
    worker_drain(app.conf.task_default_queue)
    assert [result.ready() for result in results] == [True] * 20
