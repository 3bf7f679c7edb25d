"""Imports drive the status rules: imported failures reopen a resolved bug only once confirmed (SPEC section 6)."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone

from bugs.models import Bug, BugStatus
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
