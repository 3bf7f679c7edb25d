"""A quarantined test still runs and keeps its latest result, but never resolves or reopens its bug."""

from __future__ import annotations

import pytest

from bugs.models import Bug, RegressionTest, Run
from bugs.parsers import ParsedResult
from bugs.services.bugs import bug_create, bug_link_test, regression_test_quarantine
from bugs.services.results import results_store, run_finalize
from bugs.services.status import StatusRefused, bug_transition
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db

FIX = "abcdef1234567890abcdef1234567890abcdef12"
NODE = "tests/test_x.py::test_guard"


def _run(outcome: str, *, attempts: int = 1) -> Run:
    run = make_run(commit_sha=FIX, status="running")
    results_store(run=run, parsed=[ParsedResult(node_id=NODE, outcome=outcome, attempts=attempts)])
    assert run_finalize(run_id=run.pk)
    return run


def _fixed_bug() -> Bug:
    bug = bug_create(title="Guard lets anything through", severity="P1")
    bug_link_test(bug=bug, node_id=NODE)
    return bug_transition(bug=bug, to_status="fixed", fix_commit=FIX, reason="Fixed.")


def test_a_passing_quarantined_test_does_not_resolve_its_bug():
    bug = _fixed_bug()
    assert regression_test_quarantine(node_id=NODE, quarantined=True) == 1
    run = _run("passed")
    bug.refresh_from_db()
    assert bug.status == "fixed"
    assert RegressionTest.objects.get(bug=bug).last_result_id is not None
    assert RegressionTest.objects.filter(bug=bug, last_result__run=run).exists()  # it still ran and was recorded


def test_a_quarantined_test_is_no_evidence_for_a_manual_resolution():
    bug = _fixed_bug()
    regression_test_quarantine(node_id=NODE, quarantined=True)
    _run("passed")
    with pytest.raises(StatusRefused, match="passed on a run"):
        bug_transition(bug=bug, to_status="resolved", reason="By hand.")


def test_a_confirmed_failure_of_a_quarantined_test_does_not_reopen_its_bug():
    bug = _fixed_bug()
    _run("passed")
    bug.refresh_from_db()
    assert bug.status == "resolved"
    regression_test_quarantine(node_id=NODE, quarantined=True)
    _run("failed", attempts=2)  # a rerun inside the run confirms the failure
    bug.refresh_from_db()
    assert (bug.status, bug.is_regression) == ("resolved", False)


def test_a_released_test_moves_its_bug_again():
    bug = _fixed_bug()
    regression_test_quarantine(node_id=NODE, quarantined=True)
    assert regression_test_quarantine(node_id=NODE, quarantined=False) == 1
    _run("passed")
    bug.refresh_from_db()
    assert bug.status == "resolved"


def test_the_triage_report_lists_quarantined_tests():
    from bugs.report import triage_report

    bug = _fixed_bug()
    regression_test_quarantine(node_id=NODE, quarantined=True)
    text = triage_report(fmt="markdown")
    section = text.split("## Quarantined tests", 1)[1].split("\n## ", 1)[0]
    assert f"`{NODE}` ({bug.key})" in section
    import json

    assert json.loads(triage_report(fmt="json"))["quarantined_tests"] == [{"node_id": NODE, "bugs": [bug.key]}]
