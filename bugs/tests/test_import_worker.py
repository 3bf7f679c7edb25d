"""A 60 MB import through the route and a real Celery worker: answered at once, read by the worker."""

from __future__ import annotations

import time

import pytest

from atom.testing import wait_until
from bugs.models import TERMINAL_RUN_STATUSES, BugResult, Run
from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.test_import_async import big_junit

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_60_mb_report_is_answered_at_once_and_read_by_the_worker(staff_user, client_for, celery_worker_process):
    bug = bug_create(key="BUG-001", title="Big failure", severity="P2")
    bug_link_test(bug=bug, node_id="big::com.acme.Big0::t0")
    body = big_junit()
    client = client_for(staff_user)
    assert client.get("/api/v1/runs/").status_code == 200  # a warm process, as a server's is: imports done
    start = time.perf_counter()
    response = client.post("/api/v1/runs/import/?build=ci-1", data=body, content_type="application/xml")
    answered = time.perf_counter() - start
    assert response.status_code == 202, response.content[:500]
    run_id = response.json()["id"]
    start = time.perf_counter()
    wait_until(lambda: Run.objects.get(pk=run_id).status in TERMINAL_RUN_STATUSES, timeout=240, message=f"import run #{run_id}")
    read = time.perf_counter() - start
    run = Run.objects.get(pk=run_id)
    expected = body.count(b"<testcase")
    assert (run.status, run.total, run.done, run.failed) == ("failed", expected, expected, (expected + 9) // 10)
    assert BugResult.objects.get(bug=bug).result.outcome == "failed"
    assert answered < read / 2, (answered, read)
    print(f"60 MB import: answered in {answered:.2f} s, read by the worker in {read:.1f} s")
