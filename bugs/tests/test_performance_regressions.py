"""Regression tests for the bugs app's performance defects: each pins the work the fix removed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.db.models.signals import post_init

from bugs.models import Bug, BugResult
from bugs.report import triage_report
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.imports import run_import
from bugs.services.status import _flaky_node_ids
from bugs.tests.factories import make_result, make_run
from bugs.tests.work import database_work

pytestmark = pytest.mark.django_db


@pytest.mark.regression("BUG-007")
def test_p3_performance_flaky_scan_reads_only_linked_tests_regression():
    """BUG-007 (P3, performance): importing a 55,248-case JUnit report took 3.3 s on PostgreSQL.

    Looking for flaky tests grouped every result of the run's commit, linked to a bug or not, so a
    large import paid for an aggregate over all its cases to find the few hundred that matter. Fix:
    only tests linked to a bug are looked at (flakiness is flagged on the links), and the result
    indexes were made lean (commit 218fd68).
    """
    sha = "ab" * 20
    bug_link_test(bug=bug_create(key="BUG-001", title="linked", severity="P2"), node_id="tests/test_a.py::test_linked")
    earlier, run = make_run(commit_sha=sha, status="finished"), make_run(commit_sha=sha, status="running")
    for node_id in ("tests/test_a.py::test_linked", "tests/test_a.py::test_not_linked"):
        make_result(run=earlier, node_id=node_id, outcome="passed")
        make_result(run=run, node_id=node_id, outcome="failed")
    assert _flaky_node_ids(run) == {"tests/test_a.py::test_linked"}


@pytest.mark.regression("BUG-008")
def test_p3_performance_triage_report_reads_rows_not_models_regression():
    """BUG-008 (P3, performance): the triage report for 10,000 bugs took 3.3 s (SQLite) and 9 s (PostgreSQL).

    The report built a model instance for every bug and every linked test before writing a line.
    Fix: it reads plain rows, in a fixed number of queries (commit 00b5c3a).
    """
    for number in range(1, 31):
        bug = bug_create(key=f"BUG-{number:03d}", title=f"bug {number}", severity="P2")
        bug_link_test(bug=bug, node_id=f"tests/test_a.py::test_{number}")
    built: list[Any] = []

    def count(sender: type[Bug], instance: Bug, **kwargs: Any) -> None:
        built.append(instance)

    post_init.connect(count, sender=Bug)
    try:
        report = triage_report(fmt="markdown")
    finally:
        post_init.disconnect(count, sender=Bug)
    assert "BUG-030" in report
    assert built == []


def _import_work(cases: int) -> int:
    """The database work of importing a JUnit report of ``cases`` cases, every other one linked to a bug."""
    suite = f"tests.test_size{cases}"
    for number in range(cases // 2):
        bug = bug_create(key=f"BUG-{cases:04d}{number:04d}", title=f"bug {number}", severity="P2")
        bug_link_test(bug=bug, node_id=f"tests/test_size{cases}.py::test_{2 * number}")
    testcases = "".join(f'<testcase classname="{suite}" name="test_{n}" time="0.01"/>' for n in range(cases))
    report = f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">{testcases}</testsuite></testsuites>'
    with database_work() as work:
        run = run_import(stream=io.BytesIO(report.encode()), commit_sha=f"{cases:040x}")
    assert BugResult.objects.filter(result__run=run).count() == cases // 2
    return work.units


@pytest.mark.regression("BUG-160")
def test_p2_performance_import_work_grows_linearly_with_the_report_regression():
    """BUG-160 (P2, performance): a 55,248-case JUnit import ended in a statement timeout on PostgreSQL.

    Attaching results to bugs and giving each linked test its latest result matched a result to a link
    by "node id or identity": an OR that no index serves, so with the statistics of a freshly filled
    table both databases compared every result with every link (114 s on SQLite). The work of an import
    four times larger must be about four times the work, not sixteen.
    """
    small, large = _import_work(300), _import_work(1200)
    assert large < 8 * small, f"{small} units of work for 300 cases, {large} for 1200"


@pytest.mark.regression("BUG-161")
def test_p2_performance_import_rewrites_its_stored_report_once_not_per_batch_regression(monkeypatch):
    """BUG-161 (P2, performance): the worker extended the import's lease after every batch of results.

    The lease lives on the row that holds the whole uploaded report, and SQLite writes a row whole: a
    1,000,000-case report (73 MB) was written back a hundred times, 10 of the 40 s of the import, and
    the rewrite took the process to 600 MB. The lease is renewed when half of it is spent, so a report
    read within its lease writes the upload row once, at the claim, however many batches it has.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bugs.services.imports import run_import_parse, run_import_receive

    monkeypatch.setattr("bugs.services.imports.IMPORT_BATCH", 10)
    testcases = "".join(f'<testcase classname="tests.test_a" name="test_{n}" time="0.01"/>' for n in range(60))
    report = f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">{testcases}</testsuite></testsuites>'
    run = run_import_receive(stream=io.BytesIO(report.encode()), name="six-batches.xml")
    with CaptureQueriesContext(connection) as queries:
        assert run_import_parse(run_id=run.pk)
    table = connection.ops.quote_name("bugs_runupload")
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {table}")]
    assert len(writes) == 1, writes
