"""The runner executed in this process (no worker): pytest subprocess, results, timeout, idempotence."""

from __future__ import annotations

import pytest

from bugs.models import Bug, BugResult, Result, Run, RunShard
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.runs import run_trigger
from bugs.services.shards import run_shard_execute
from bugs.services.status import bug_transition
from bugs.validators import node_id_validate

pytestmark = pytest.mark.django_db

THREE_TESTS = """
import pytest

def test_ok():
    assert True

def test_broken():
    assert 1 == 2, "one is not two"

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n
"""


def _run_inline(run: Run) -> Run:
    for shard in run.shards.all():
        run_shard_execute(shard_id=shard.pk, finalize=run.shards.count() == 1)
    if run.shards.count() > 1:
        from bugs.services.results import run_finalize

        run_finalize(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_it_runs_the_suite_and_records_one_result_per_test(project, suite_for):
    project.write("tests/test_a.py", THREE_TESTS)
    sha = project.commit("tests")
    run = _run_inline(run_trigger(suite=suite_for(project), trigger=Run.Trigger.CLI))
    assert run.status == "failed"
    assert (run.total, run.passed, run.failed) == (4, 3, 1)
    assert run.commit_sha == sha
    assert run.branch == "main"
    broken = Result.objects.get(run=run, node_id="tests/test_a.py::test_broken")
    assert broken.outcome == "failed"
    assert "one is not two" in broken.message
    assert Result.objects.filter(run=run, node_id="tests/test_a.py::test_param[2]").exists()


def test_it_attaches_results_to_every_bug_linking_the_node_id_once(project, suite_for):
    project.write("tests/test_a.py", THREE_TESTS)
    project.commit("tests")
    first = bug_create(key="BUG-001", title="a", severity="P2")
    second = bug_create(key="BUG-002", title="b", severity="P2")
    for bug in (first, second):
        bug_link_test(bug=bug, node_id="tests/test_a.py::test_ok")
    run = run_trigger(suite=suite_for(project), bug_keys=["BUG-001", "BUG-002"], trigger=Run.Trigger.CLI)
    run = _run_inline(run)
    # A second delivery of the same shard is a no-op: the shard is done.
    run_shard_execute(shard_id=run.shards.get().pk, finalize=True)
    assert run.total == 1
    assert BugResult.objects.filter(result__run=run).count() == 2
    assert set(BugResult.objects.values_list("bug__key", flat=True)) == {"BUG-001", "BUG-002"}


@pytest.mark.regression("BUG-004", "BUG-005")
def test_a_hanging_test_times_out_and_keeps_partial_results(project, suite_for):
    project.write(
        "tests/test_a.py",
        "import time\n\ndef test_first():\n    pass\n\ndef test_second():\n    time.sleep(60)\n\ndef test_third():\n    pass\n",
    )
    project.commit("hang")
    run = _run_inline(run_trigger(suite=suite_for(project, timeout=3), trigger=Run.Trigger.CLI))
    assert run.status == "timed_out"
    outcomes = dict(Result.objects.filter(run=run).values_list("node_id", "outcome"))
    assert outcomes["tests/test_a.py::test_first"] == "passed"
    assert outcomes["tests/test_a.py::test_second"] == "error"
    assert "tests/test_a.py::test_third" not in outcomes
    assert run.done == 2
    assert run.total == 3
    assert RunShard.objects.get(run=run).status == "timed_out"


def test_shards_merge_into_one_run_with_the_same_results_as_one_shard(project, suite_for):
    project.write("tests/test_a.py", THREE_TESTS)
    project.write("tests/test_b.py", "def test_b1():\n    pass\n\ndef test_b2():\n    pass\n")
    project.commit("tests")
    suite = suite_for(project)
    node_ids = [
        "tests/test_a.py::test_ok",
        "tests/test_a.py::test_broken",
        "tests/test_a.py::test_param[1]",
        "tests/test_b.py::test_b1",
        "tests/test_b.py::test_b2",
    ]
    one = _run_inline(run_trigger(suite=suite, node_ids=node_ids, trigger=Run.Trigger.CLI))
    three = _run_inline(run_trigger(suite=suite, node_ids=node_ids, shards=3, trigger=Run.Trigger.CLI))
    assert three.shards.count() == 3
    outcomes = lambda run: sorted(Result.objects.filter(run=run).values_list("node_id", "outcome"))  # noqa: E731
    assert outcomes(one) == outcomes(three)
    assert (three.status, three.total, three.passed, three.failed) == (one.status, one.total, one.passed, one.failed)


@pytest.mark.parametrize(
    "node_id",
    [
        "-p evil",
        "--rootdir=/",
        "/etc/passwd.py",
        "../outside.py::test_x",
        "tests/test_a.py::test_x; rm -rf /",
        "tests/test_a.py::test_x\n--pdb",
        "tests/test_a.py::test_x $(whoami)",
        "tests/test_a.txt",
        "",
    ],
)
def test_it_refuses_node_ids_that_could_become_options_or_commands(node_id):
    from atom.errors import DomainError

    with pytest.raises(DomainError):
        node_id_validate(node_id)


@pytest.mark.parametrize("node_id", ["tests/test_a.py", "tests/test_a.py::TestX::test_y", "a/b_c.py::test_p[1-x y]"])
def test_it_accepts_real_node_ids(node_id):
    assert node_id_validate(node_id) == node_id


def test_a_p0_fix_becomes_resolved_when_its_test_passes_on_the_fix(project, suite_for):
    project.write("tests/test_a.py", "def test_guard():\n    assert True\n")
    fix = project.commit("Fixes BUG-001")
    bug = bug_create(key="BUG-001", title="guard", severity="P0")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    bug_transition(bug=bug, to_status="fixed", fix_commit=fix, reason="fixed")
    _run_inline(run_trigger(suite=suite_for(project), bug_keys=["BUG-001"], trigger=Run.Trigger.CLI))
    bug = Bug.objects.get(key="BUG-001")
    assert bug.status == "resolved"
    assert bug.verified_by is not None
    change = bug.status_changes.all()[0]
    assert change.automatic
    assert change.to_status == "resolved"


def test_a_suite_without_plugin_autoload_still_gets_its_report_log(project, suite_for):
    project.write("tests/test_a.py", "def test_a():\n    pass\n")
    project.commit("tests")
    suite = suite_for(project)
    assert suite.environment == {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = _run_inline(run_trigger(suite=suite, trigger=Run.Trigger.CLI))
    assert (run.status, run.passed) == ("passed", 1)


@pytest.mark.regression("BUG-029")
def test_p1_integrity_lone_surrogate_in_failure_message_regression(project, suite_for):
    """BUG-029 (P1, integrity): a failure message holding a lone surrogate lost the run's results.

    The message reached the database as ``\\ud800``: PostgreSQL's jsonb refused it, the shard stayed
    leased and the run ended "error" with no result after three attempts; SQLite stored it but reading
    it back raised "Could not decode to UTF-8". Fix: the parser replaces characters that cannot be
    encoded in UTF-8 in messages, tracebacks and node ids (commit recorded in the catalog).
    """
    project.write(
        "tests/test_a.py",
        'def test_ok():\n    pass\n\ndef test_bad():\n    raise AssertionError("bad \\ud800 char")\n',
    )
    project.commit("surrogate")
    run = _run_inline(run_trigger(suite=suite_for(project), trigger=Run.Trigger.CLI))
    assert (run.status, run.total, run.passed, run.failed) == ("failed", 2, 1, 1)
    bad = Result.objects.get(run=run, node_id="tests/test_a.py::test_bad")
    assert "bad ? char" in bad.message
    assert "\ud800" not in bad.message + bad.traceback
    assert RunShard.objects.get(run=run).status == "done"
