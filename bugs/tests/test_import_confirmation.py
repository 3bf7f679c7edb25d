"""Imports drive the status rules: imported failures reopen a resolved bug only once confirmed (SPEC section 6)."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone

from bugs.models import Bug, BugStatus, RegressionTest
from bugs.services.imports import run_import
from bugs.tests.factories import make_bug, make_regression_test, make_result, make_run

pytestmark = pytest.mark.django_db

SHA = "e" * 40
TEST = "io.acme.CheckoutTest::paysByCard"


def _report(time: str, verdict: str = '<failure message="declined"/>') -> bytes:
    return (
        f'<testsuite name="io.acme.CheckoutTest"><testcase classname="io.acme.CheckoutTest" name="paysByCard" time="{time}">'
        f'{verdict}</testcase><testcase classname="io.acme.CheckoutTest" name="refunds" time="0.1"/></testsuite>'
    ).encode()


def _resolved_bug() -> Bug:
    # Verified by an earlier run of its own (on the fix's first commit): no result on SHA to mix with.
    verified = make_result(run=make_run(commit_sha="f" * 40, status="passed"), node_id=TEST, outcome="passed")
    bug = make_bug(
        key="BUG-001", severity="P1", status=BugStatus.RESOLVED, fix_commit=SHA, verified_by=verified, resolved_at=timezone.now()
    )
    make_regression_test(bug=bug, node_id=TEST)
    return bug


def _status(bug: Bug) -> tuple[str, bool]:
    bug.refresh_from_db()
    return bug.status, bug.is_regression


@pytest.mark.regression("BUG-067")
def test_p1_integrity_second_import_never_confirms_a_regression_regression():
    """BUG-067 (P1, integrity): no failure imported from an external CI could ever reopen a regression.

    A failing imported result needs confirmation, and imports never get Atom's own rerun (the suite may
    not run here), so only a tool's rerun elements inside one report could confirm it. Two reports from
    two CI builds, each with the test failing on a commit containing the fix, left the bug resolved.
    """
    bug = _resolved_bug()
    run_import(stream=io.BytesIO(_report("0.5")), commit_sha=SHA, build="ci-101")
    assert _status(bug) == (BugStatus.RESOLVED, False)
    run_import(stream=io.BytesIO(_report("0.7")), commit_sha=SHA, build="ci-102")
    assert _status(bug) == (BugStatus.REOPENED, True)


def test_the_same_upload_sent_twice_confirms_nothing():
    bug = _resolved_bug()
    for build in ("ci-101", "ci-102"):
        run_import(stream=io.BytesIO(_report("0.5")), commit_sha=SHA, build=build)
    assert _status(bug) == (BugStatus.RESOLVED, False)


def test_two_files_of_one_build_or_without_a_build_confirm_nothing():
    bug = _resolved_bug()
    run_import(stream=io.BytesIO(_report("0.5")), commit_sha=SHA, build="ci-101")
    run_import(stream=io.BytesIO(_report("0.6")), commit_sha=SHA, build="ci-101")
    run_import(stream=io.BytesIO(_report("0.7")), commit_sha=SHA)
    assert _status(bug) == (BugStatus.RESOLVED, False)


def test_failing_rerun_attempts_inside_one_report_confirm_at_once():
    bug = _resolved_bug()
    reruns = '<failure message="declined"/><rerunFailure message="declined"/>'
    run = run_import(stream=io.BytesIO(_report("0.5", reruns)), commit_sha=SHA)
    assert _status(bug) == (BugStatus.REOPENED, True)
    assert not run.reruns.exists()  # an import never gets a confirmation run of Atom's own


def test_a_pass_after_failed_attempts_flags_the_test_flaky_and_moves_nothing():
    bug = _resolved_bug()
    run_import(stream=io.BytesIO(_report("0.5", '<flakyFailure message="declined"/>')), commit_sha=SHA, build="ci-101")
    run_import(stream=io.BytesIO(_report("0.6", '<flakyFailure message="declined"/>')), commit_sha=SHA, build="ci-102")
    assert _status(bug) == (BugStatus.RESOLVED, False)
    link = RegressionTest.objects.get(bug=bug)
    assert (link.is_flaky, link.flaky_commit) == (True, SHA)


def test_imports_on_a_commit_without_the_fix_confirm_nothing():
    bug = _resolved_bug()
    other = "1" * 40
    run_import(stream=io.BytesIO(_report("0.5")), commit_sha=other, build="ci-101")
    run_import(stream=io.BytesIO(_report("0.7")), commit_sha=other, build="ci-102")
    assert _status(bug) == (BugStatus.RESOLVED, False)


def test_failing_repeats_of_a_linked_identity_in_two_builds_reopen_it():
    verified = make_result(run=make_run(commit_sha="f" * 40, status="passed"), node_id="S::c::n", outcome="passed")
    bug = make_bug(severity="P2", status=BugStatus.RESOLVED, fix_commit=SHA, verified_by=verified, resolved_at=timezone.now())
    make_regression_test(bug=bug, node_id="S::c::n")

    def report(seconds: str) -> bytes:
        passing = f'<testcase classname="c" name="n" time="{seconds}"/>'
        failing = '<testcase classname="c" name="n"><failure message="x"/></testcase>'
        return f'<testsuite name="S">{passing}{failing}{passing}</testsuite>'.encode()

    run_import(stream=io.BytesIO(report("0.1")), commit_sha=SHA, build="ci-1")
    assert _status(bug) == (BugStatus.RESOLVED, False)
    run_import(stream=io.BytesIO(report("0.2")), commit_sha=SHA, build="ci-2")
    assert _status(bug) == (BugStatus.REOPENED, True)
