"""Regressions of the runner's bookkeeping: what a run that ends badly records, counts and shows."""

from __future__ import annotations

import io
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bugs import history
from bugs.models import BugResult, Result, Run
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.runs import run_trigger
from bugs.services.shards import run_shard_execute
from bugs.services.status import bug_transition

pytestmark = pytest.mark.django_db

# What pytest prints and exits with (code 4) when a conftest cannot be imported: the shape of the
# "Apps aren't loaded yet" crash of a suite started without its plugins.
BROKEN_CONFTEST = 'raise RuntimeError("Apps aren\'t loaded yet.")\n'


def _run_inline(run: Run) -> Run:
    shards = list(run.shards.all())
    for shard in shards:
        run_shard_execute(shard_id=shard.pk, finalize=len(shards) == 1)
    if len(shards) > 1:
        from bugs.services.results import run_finalize

        run_finalize(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.regression("BUG-108")
def test_p2_quality_errored_run_counts_no_error_and_leaves_no_trace_on_its_bug_regression(project, suite_for, admin_client):
    """BUG-108 (P2, quality): a run whose pytest crashed showed "Errors: 0" and nothing on its bug's page.

    pytest exited with code 4 before running the requested test, so the shard stored no result: the
    run said 0 errors, and the linked bug's result strip, failure messages and timeline never showed
    that a run of its test had ended in error, nor why.
    """
    project.write("tests/conftest.py", BROKEN_CONFTEST)
    project.write("tests/test_a.py", "def test_guard():\n    pass\n\ndef test_other():\n    pass\n")
    project.commit("a conftest that cannot be imported")
    bug = bug_create(key="BUG-001", title="Guard lets everything through", severity="P1")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    run = _run_inline(run_trigger(suite=suite_for(project), bug_keys=["BUG-001"], trigger=Run.Trigger.ADMIN))

    assert run.status == "error"
    assert (run.done, run.total, run.errors) == (1, 1, 1)
    result = Result.objects.get(run=run)
    assert (result.node_id, result.outcome) == ("tests/test_a.py::test_guard", "error")
    assert result.message.startswith("not run: pytest exited with code 4")
    assert BugResult.objects.filter(bug=bug, result=result).exists()

    page = history.bug_page(pk=bug.pk)
    assert page is not None
    assert [row["kind"] for row in page.tests[0].strip] == ["error"]
    assert page.failures[0]["message"].startswith("not run: pytest exited with code 4")
    runs = [entry for entry in page.timeline if entry.kind == "run"]
    assert [entry.text for entry in runs] == [f"Run #{run.pk} at {run.commit_sha[:12]}: error"]
    html = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert "not run: pytest exited with code 4" in html


@pytest.mark.regression("BUG-109")
def test_p1_integrity_interrupted_run_moves_its_bugs_regression(project, suite_for):
    """BUG-109 (P1, integrity): a run that timed out, errored or was cancelled still resolved and reopened bugs.

    The status rules ran on every finalized run, whatever its status: a fix whose test passed before
    another test of the run hung was "verified" by a run that never finished, and an interrupted run's
    failures counted as regressions. SPEC section 6 moves bugs only on runs that went to the end.
    """
    project.write(
        "tests/test_a.py",
        "import time\n\ndef test_guard():\n    pass\n\ndef test_hangs():\n    time.sleep(60)\n",
    )
    fix = project.commit("Fixes BUG-001")
    bug = bug_create(key="BUG-001", title="Guard lets everything through", severity="P1")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    bug_transition(bug=bug, to_status="fixed", fix_commit=fix, reason="fixed")
    node_ids = ["tests/test_a.py::test_guard", "tests/test_a.py::test_hangs"]
    run = _run_inline(run_trigger(suite=suite_for(project, timeout=3), node_ids=node_ids, trigger=Run.Trigger.CLI))

    assert run.status == "timed_out"
    assert Result.objects.get(run=run, node_id="tests/test_a.py::test_guard").outcome == "passed"
    bug.refresh_from_db()
    assert bug.status == "fixed"
    assert bug.verified_by is None
    assert not bug.status_changes.filter(to_status="resolved").exists()


@pytest.mark.regression("BUG-110")
def test_p1_integrity_crashed_shard_reads_a_stale_report_of_an_earlier_run_regression(project, suite_for, settings, tmp_path):
    """BUG-110 (P1, integrity): a shard whose pytest crashed read the report left by an earlier run.

    Run folders are named by run id and attempt. With a database made afresh beside an old var folder
    (or run ids reused), the folder already held an earlier run's report log; pytest crashed before
    writing its own, and the shard stored the old run's passes as its own results.
    """
    settings.ATOM_BUGS_ARTIFACTS_DIR = tmp_path / "runs"
    project.write("tests/test_a.py", "def test_guard():\n    pass\n")
    project.commit("tests")
    suite = suite_for(project)
    earlier = _run_inline(run_trigger(suite=suite, node_ids=["tests/test_a.py::test_guard"], trigger=Run.Trigger.CLI))
    assert earlier.passed == 1
    # What an earlier database left behind in the folder the next run id will use: a real run's files.
    left_over = tmp_path / "runs" / str(earlier.pk + 1)
    shutil.copytree(tmp_path / "runs" / str(earlier.pk), left_over)
    project.write("tests/conftest.py", BROKEN_CONFTEST)
    project.commit("a conftest that cannot be imported")
    run = _run_inline(run_trigger(suite=suite, node_ids=["tests/test_a.py::test_guard"], trigger=Run.Trigger.CLI))

    assert run.pk == earlier.pk + 1
    assert run.status == "error"
    assert run.passed == 0
    assert Result.objects.get(run=run).outcome != "passed"


PARAMETRIZED = """
import time

import pytest


@pytest.mark.parametrize("n", [1, 2])
def test_guard(n):
    time.sleep(0.8)


@pytest.mark.parametrize("n", [1, 2])
def test_limit(n):
    pass
"""


@pytest.mark.regression("BUG-111")
def test_p3_quality_run_total_jumps_from_the_selection_to_the_collection_regression(project, suite_for, admin_client, monkeypatch):
    """BUG-111 (P3, quality): a run's total jumped from 0/2 to 0/4 while it ran.

    The run was created with the number of node ids selected as its total, but pytest collects a
    parametrized test once per parameter: two linked tests were four, and the live bar's total grew.
    A total is shown only once pytest has collected; until then the run is "collecting".
    """
    from bugs.services import shards

    project.write("tests/test_a.py", PARAMETRIZED)
    project.commit("parametrized tests")
    bug = bug_create(key="BUG-001", title="Guard lets everything through", severity="P2")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_guard")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_limit")
    run = run_trigger(suite=suite_for(project), bug_keys=["BUG-001"], trigger=Run.Trigger.ADMIN)
    seen = [Run.objects.get(pk=run.pk).total]
    listing = admin_client.get("/admin/bugs/run/").content.decode()
    refresh = shards._run_progress_refresh

    def watched(*, run_id: int) -> None:
        refresh(run_id=run_id)
        seen.append(Run.objects.get(pk=run_id).total)

    monkeypatch.setattr(shards, "_run_progress_refresh", watched)
    run = _run_inline(run)

    assert (run.status, run.total, run.passed) == ("passed", 4, 4)
    assert len(seen) >= 3  # at the trigger, at least one heartbeat, at the end
    assert set(seen) <= {0, run.total}, f"the totals shown over the run: {seen}"
    assert "0/collecting queued" in listing


@pytest.mark.regression("BUG-112")
def test_p3_quality_finished_run_page_prints_the_pytest_output_twice_regression(project, suite_for, admin_client):
    """BUG-112 (P3, quality): a finished run's page printed pytest's raw output twice.

    Finalizing copied every shard's message, with the tail of pytest's output, into the run's own
    message, and the page shows both the run and its shards. The run keeps one line per shard; the
    output stays on its shard.
    """
    project.write("tests/conftest.py", BROKEN_CONFTEST)
    project.write("tests/test_a.py", "def test_guard():\n    pass\n")
    project.commit("a conftest that cannot be imported")
    run = _run_inline(run_trigger(suite=suite_for(project), node_ids=["tests/test_a.py::test_guard"], trigger=Run.Trigger.ADMIN))
    assert run.status == "error"

    page = admin_client.get(f"/admin/bugs/run/{run.pk}/change/").content.decode()
    assert page.count("ImportError while loading conftest") == 1
    assert run.error_message == "Shard 0: pytest exited with code 4."


class _Killed(BaseException):
    """What a worker killed with -9 leaves: nothing after this point ran, not even an except clause."""


@pytest.mark.regression("BUG-113")
def test_p1_infrastructure_import_whose_worker_died_stays_running_forever_regression(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    """BUG-113 (P1, infrastructure): an import whose worker died stayed "running" for ever.

    The reaper looked at the shards of test runs only. An imported report (runs/import/) has none: a
    worker killed while reading it, with its message never delivered again, left the run running
    with no one to end or resume it. After two leases it must be queued again (or ended as an error
    after the last attempt).
    """
    from django.utils import timezone

    from bugs.services.imports import run_import_parse, run_import_receive
    from bugs.services.shards import run_reap_stale
    from bugs.tasks import run_import_task

    report = (Path(__file__).parent / "data" / "junit" / "pytest_xunit2.xml").read_bytes()
    run = run_import_receive(stream=io.BytesIO(report), name="pytest_xunit2.xml")

    def killed(*args: object, **kwargs: object) -> float:
        raise _Killed

    with monkeypatch.context() as dying:
        dying.setattr("bugs.services.imports._store_batches", killed)
        with pytest.raises(_Killed):
            run_import_parse(run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == "running"

    sent: list[int] = []
    monkeypatch.setattr(run_import_task, "delay", lambda run_id: sent.append(run_id))
    later = timezone.now() + timedelta(seconds=2 * settings.ATOM_BUGS_LEASE_SECONDS + 1)
    with monkeypatch.context() as clock, django_capture_on_commit_callbacks(execute=True):
        clock.setattr("django.utils.timezone.now", lambda: later)
        run_reap_stale()
    assert sent == [run.pk], "the import is queued again"
    run_import_parse(run_id=run.pk)  # the message, delivered again to a live worker
    assert Run.objects.get(pk=run.pk).status in ("passed", "failed")
