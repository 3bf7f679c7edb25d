"""A bug with a long history, written in bulk: runs, results attached to the bug, status changes."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.utils import timezone

from bugs.models import Bug, BugResult, BugStatusChange, Result, Run, Suite
from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.factories import SuiteFactory

OUTCOMES = ("passed", "passed", "failed", "skipped", "error", "passed")


def bug_with_history(*, runs: int, tests: int = 2, batch: int = 2000) -> Bug:
    """A bug linking ``tests`` tests that ran in each of ``runs`` finished runs (one result each)."""
    bug = bug_create(title="Guard lets anything through", severity="P1")
    node_ids = [f"tests/test_guard.py::test_case_{index}" for index in range(tests)]
    for node_id in node_ids:
        bug_link_test(bug=bug, node_id=node_id)
    suite = cast(Suite, SuiteFactory(name="atom"))
    now = timezone.now()
    for start in range(0, runs, batch):
        size = min(batch, runs - start)
        created = Run.objects.bulk_create(
            Run(
                suite=suite, trigger=Run.Trigger.SCHEDULE, status="failed", commit_sha=f"{start + index:040x}",
                started_at=now - timedelta(minutes=runs - start - index), finished_at=now - timedelta(minutes=runs - start - index),
            )
            for index in range(size)
        )  # fmt: skip
        results = Result.objects.bulk_create(
            Result(
                run=run, node_id=node_id, outcome=OUTCOMES[(run.pk + offset) % len(OUTCOMES)],
                is_flaky=(run.pk + offset) % 17 == 0, message="AssertionError: assert 401 == 200\nsecond line",
                traceback="def test():\n>       assert response.status_code == 200\nE       AssertionError: assert 401 == 200",
            )
            for run in created
            for offset, node_id in enumerate(node_ids)
        )  # fmt: skip
        BugResult.objects.bulk_create(BugResult(bug=bug, result=result) for result in results)
    BugStatusChange.objects.bulk_create(
        BugStatusChange(bug=bug, from_status="open", to_status="in_progress", reason=f"Change {index}") for index in range(min(runs, 200))
    )
    return bug
