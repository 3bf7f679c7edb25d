"""Tests a run was asked for and pytest never reported: stored as "not run" errors with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bugs import history
from bugs.models import RegressionTest, Result, Run, RunShard
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.results import results_not_run
from bugs.services.runs import run_trigger
from bugs.services.shards import run_reap_stale
from bugs.tests.test_run_regressions import BROKEN_CONFTEST, _run_inline

pytestmark = pytest.mark.django_db


def test_a_requested_file_or_parametrized_test_is_covered_by_any_result_below_it():
    produced = ["tests/test_a.py::test_p[1]", "tests/test_a.py::test_p[2]", "tests/unit/test_b.py::TestX::test_y"]
    requested = ["tests/test_a.py::test_p", "tests/unit/", "tests/unit/test_b.py::TestX", "tests/test_a.py::test_q", "tests/test_c.py"]
    missing = results_not_run(requested=requested, produced=produced, reason="pytest exited with code 4", detail="tail")
    assert [(r.node_id, r.outcome, r.message, r.traceback) for r in missing] == [
        ("tests/test_a.py::test_q", "error", "not run: pytest exited with code 4", "tail"),
        ("tests/test_c.py", "error", "not run: pytest exited with code 4", "tail"),
    ]


def test_tests_left_at_the_time_limit_are_errors_named_by_the_limit(project, suite_for):
    project.write(
        "tests/test_a.py",
        "import time\n\ndef test_first():\n    pass\n\ndef test_hangs():\n    time.sleep(60)\n\ndef test_never():\n    pass\n",
    )
    project.commit("hang")
    node_ids = ["tests/test_a.py::test_first", "tests/test_a.py::test_hangs", "tests/test_a.py::test_never"]
    run = _run_inline(run_trigger(suite=suite_for(project, timeout=3), node_ids=node_ids, trigger=Run.Trigger.CLI))
    assert run.status == "timed_out"
    outcomes = dict(Result.objects.filter(run=run).values_list("node_id", "outcome"))
    assert outcomes == {node_ids[0]: "passed", node_ids[1]: "error", node_ids[2]: "error"}
    never = Result.objects.get(run=run, node_id=node_ids[2])
    assert never.message == "not run: pytest was killed at the suite's time limit of 3 s."
    assert (run.done, run.total, run.passed, run.errors) == (3, 3, 1, 2)


def test_a_linked_test_that_was_renamed_is_an_error_not_a_silence(project, suite_for):
    project.write("tests/test_a.py", "def test_renamed():\n    pass\n")
    project.commit("renamed")
    bug = bug_create(key="BUG-001", title="Guard", severity="P2")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    run = _run_inline(run_trigger(suite=suite_for(project), bug_keys=["BUG-001"], trigger=Run.Trigger.CLI))
    result = Result.objects.get(run=run)
    assert (run.status, run.errors, result.outcome) == ("error", 1, "error")
    assert result.message == "not run: pytest exited with code 4"
    assert "not found" in result.traceback


def test_an_errored_run_on_the_commit_of_a_pass_does_not_make_the_test_flaky(project, suite_for):
    # The same commit passes, then crashes when the suite's environment breaks its conftest.
    project.write("tests/conftest.py", f"import os\n\nif os.environ.get('BREAK'):\n    {BROKEN_CONFTEST}")
    project.write("tests/test_a.py", "def test_guard():\n    pass\n")
    project.commit("tests")
    bug = bug_create(key="BUG-001", title="Guard", severity="P2")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    suite = suite_for(project)
    passed = _run_inline(run_trigger(suite=suite, bug_keys=["BUG-001"], trigger=Run.Trigger.CLI))
    suite.environment = {**suite.environment, "BREAK": "1"}
    suite.save()
    errored = _run_inline(run_trigger(suite=suite, bug_keys=["BUG-001"], trigger=Run.Trigger.CLI))
    assert (passed.status, errored.status) == ("passed", "error")
    assert not RegressionTest.objects.get(bug=bug).is_flaky
    assert [rate.flaky for rate in history.flake_rates()] == [0]
    page = history.bug_page(pk=bug.pk)
    assert page is not None
    run_entry = next(entry for entry in page.timeline if entry.run_id == errored.pk)
    assert run_entry.detail == "test_guard error; not run: pytest exited with code 4"


def test_shards_the_reaper_gives_up_on_leave_their_tests_as_not_run(project, suite_for, settings, monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    project.write("tests/test_a.py", "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    project.commit("tests")
    node_ids = ["tests/test_a.py::test_a", "tests/test_a.py::test_b"]
    run = run_trigger(suite=suite_for(project), node_ids=node_ids, trigger=Run.Trigger.CLI)
    expired = timezone.now() - timedelta(seconds=1)
    RunShard.objects.filter(run=run).update(
        status="running", attempts=settings.ATOM_BUGS_MAX_ATTEMPTS, claimed_by="gone:1", lease_expires_at=expired
    )
    Run.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    assert run_reap_stale() == 1
    run.refresh_from_db()
    assert (run.status, run.errors, run.done) == ("error", 2, 2)
    messages = set(Result.objects.filter(run=run).values_list("message", flat=True))
    assert messages == {"not run: The worker was lost on every attempt."}
