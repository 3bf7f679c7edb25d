"""The whole loop through a real Celery worker on a real pytest project in a git repository.

A bug is found (failing test), fixed by a commit saying "Fixes BUG-001", verified by a run (fixed →
resolved), broken again by a later commit (reopened after a confirming rerun); a flaky test is
flagged without moving its bug; every result is attached once.
"""

from __future__ import annotations

import pytest

from atom.testing import wait_until
from bugs.models import TERMINAL_RUN_STATUSES, Bug, BugResult, RegressionTest, Result, Run
from bugs.services.bugs import bug_create
from bugs.services.commits import commits_link, regression_markers_collect, regression_tests_sync
from bugs.services.runs import run_trigger
from bugs.services.status import bug_transition

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GUARD_TEST = """
import pytest
from app import guard

@pytest.mark.regression("BUG-001")
def test_guard_refuses_unsigned_tokens():
    assert guard("unsigned") == "refused"
"""

FLAKY_TEST = """
import os
import pytest

@pytest.mark.regression("BUG-002")
def test_sometimes():
    # Fails on odd calls, passes on even ones: the same commit gives both outcomes.
    path = os.environ["FLAKY_COUNTER"]
    count = int(open(path).read() or 0) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(count))
    assert count % 2 == 0
"""


def _wait(run: Run, timeout: float = 60) -> Run:
    wait_until(lambda: Run.objects.get(pk=run.pk).status in TERMINAL_RUN_STATUSES, timeout=timeout, message=f"run #{run.pk}")
    return Run.objects.get(pk=run.pk)


def test_a_bug_is_verified_by_a_run_then_reopened_by_a_breaking_commit(project, suite_for, celery_worker_process, tmp_path):
    project.write("app.py", "def guard(token):\n    return 'accepted'\n")
    project.write("tests/test_guard.py", GUARD_TEST)
    project.write("tests/test_flaky.py", FLAKY_TEST)
    project.commit("The guard and its tests")
    suite = suite_for(project)
    suite.environment["FLAKY_COUNTER"] = str(tmp_path / "flaky-counter")
    suite.save()
    bug_create(key="BUG-001", title="Unsigned tokens accepted", severity="P0", category="security")
    bug_create(key="BUG-002", title="Sometimes slow", severity="P2")
    summary = regression_tests_sync(suite=suite, markers=regression_markers_collect(suite=suite))
    assert not summary.unknown
    assert len(summary.linked) == 2

    project.write("app.py", "def guard(token):\n    return 'refused' if token == 'unsigned' else 'accepted'\n")
    fix = project.commit("Refuse unsigned tokens\n\nFixes BUG-001")
    linked = commits_link(repo=project.path)
    assert linked.fixed == ["BUG-001"]
    assert commits_link(repo=project.path).fixed == []  # idempotent
    bug_transition(bug=Bug.objects.get(key="BUG-002"), to_status="fixed", fix_commit=fix, reason="tuned")

    first = _wait(run_trigger(suite=suite, bug_keys=["BUG-001", "BUG-002"], trigger=Run.Trigger.API))
    assert first.commit_sha == fix
    assert Bug.objects.get(key="BUG-001").status == "resolved"
    assert Bug.objects.get(key="BUG-002").status == "fixed"  # its test failed (odd call)

    second = _wait(run_trigger(suite=suite, bug_keys=["BUG-002"], trigger=Run.Trigger.API))
    assert Result.objects.get(run=second).outcome == "passed"
    flaky = RegressionTest.objects.get(bug__key="BUG-002")
    assert flaky.is_flaky
    assert flaky.flaky_commit == fix
    assert Bug.objects.get(key="BUG-002").status == "fixed"  # a flaky pass proves nothing

    project.write("app.py", "def guard(token):\n    return 'accepted'\n")
    project.commit("Simplify the guard")
    breaking = _wait(run_trigger(suite=suite, bug_keys=["BUG-001"], trigger=Run.Trigger.API))
    assert breaking.status == "failed"
    wait_until(lambda: Bug.objects.get(key="BUG-001").status == "reopened", timeout=60, message="the confirming rerun")
    bug = Bug.objects.get(key="BUG-001")
    assert bug.is_regression
    rerun = Run.objects.get(rerun_of=breaking)
    assert rerun.trigger == "rerun"
    assert rerun.status == "failed"
    assert [c.to_status for c in bug.status_changes.order_by("id")] == ["open", "fixed", "resolved", "reopened"]
    assert bug.status_changes.filter(automatic=True).count() == 4

    linked_results = Result.objects.filter(node_id__in=RegressionTest.objects.values("node_id"))
    assert BugResult.objects.count() == linked_results.count() == 5


def test_a_sharded_run_merges_through_the_chord_into_the_results_of_one_shard(project, suite_for, celery_worker_process):
    project.write("tests/test_a.py", "def test_a1():\n    pass\n\ndef test_a2():\n    assert False\n")
    project.write("tests/test_b.py", "def test_b1():\n    pass\n\ndef test_b2():\n    pass\n")
    project.commit("tests")
    suite = suite_for(project)
    node_ids = ["tests/test_a.py::test_a1", "tests/test_a.py::test_a2", "tests/test_b.py::test_b1", "tests/test_b.py::test_b2"]
    sharded = _wait(run_trigger(suite=suite, node_ids=node_ids, shards=2, trigger=Run.Trigger.API))
    assert sharded.shards.count() == 2
    assert (sharded.status, sharded.total, sharded.passed, sharded.failed) == ("failed", 4, 3, 1)
    assert sorted(Result.objects.filter(run=sharded).values_list("node_id", "outcome")) == [
        ("tests/test_a.py::test_a1", "passed"),
        ("tests/test_a.py::test_a2", "failed"),
        ("tests/test_b.py::test_b1", "passed"),
        ("tests/test_b.py::test_b2", "passed"),
    ]


def test_the_schedule_queues_a_run_of_the_default_suite(monkeypatch):
    from bugs.tasks import scheduled_regression_run_task

    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    run = Run.objects.get(pk=scheduled_regression_run_task.apply().get())
    assert (run.trigger, run.suite.name) == ("schedule", "atom")
