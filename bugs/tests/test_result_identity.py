"""Results keep the identity their tool gave, and a bug linked to an identity gets every repeat of it."""

from __future__ import annotations

import io

import pytest

from bugs.models import Result
from bugs.parsers import ParsedResult
from bugs.services.results import results_store
from bugs.tests.factories import make_run
from bugs.uploads import parse_report

pytestmark = pytest.mark.django_db


def _store(body: bytes) -> list[ParsedResult]:
    parsed = parse_report(io.BytesIO(body))
    results_store(run=make_run(trigger="import"), parsed=parsed)
    return parsed


@pytest.mark.regression("BUG-064")
def test_p1_integrity_long_node_ids_merged_regression():
    """BUG-064 (P1, integrity): two tests whose ids differ only past 1,000 characters became one result.

    Storage cut every node id at the column's 1,000 characters, so two testcases with long generated
    names (a data provider's arguments, a property test's example) merged: the later one overwrote the
    earlier, and a failure could be stored as a pass.
    """
    stem = "x" * 1199
    body = (
        f'<testsuite name="s"><testcase classname="c" name="{stem}a"><failure message="boom"/></testcase>'
        f'<testcase classname="c" name="{stem}b"/></testsuite>'
    ).encode()
    _store(body)
    rows = list(Result.objects.order_by("outcome"))
    assert [r.outcome for r in rows] == ["failed", "passed"]
    assert all(len(r.node_id) <= 1000 for r in rows)
    assert rows[0].node_id != rows[1].node_id


DATA = "bugs/tests/data/junit/"


def test_a_stored_result_keeps_the_identity_its_tool_gave():
    with open(DATA + "surefire_testng_dataprovider.xml", "rb") as report:
        _store(report.read())
    repeat = Result.objects.get(node_id="TestSuite::com.acme.pricing.PriceTest::roundsToCents[#2]")
    assert (repeat.kind, repeat.suite, repeat.scope, repeat.classname, repeat.name, repeat.ordinal) == (
        "junit",
        "TestSuite",
        "TestSuite",
        "com.acme.pricing.PriceTest",
        "roundsToCents",
        2,
    )
    assert repeat.identity == "TestSuite::com.acme.pricing.PriceTest::roundsToCents"
    assert Result.objects.filter(identity=repeat.identity).count() == 3


def test_a_pytest_result_keeps_its_node_id_as_identity_with_file_and_line():
    body = (
        b'<testsuites name="pytest tests"><testsuite name="pytest">'
        b'<testcase classname="tests.test_a" name="test_b" file="tests/test_a.py" line="7"/></testsuite></testsuites>'
    )
    _store(body)
    result = Result.objects.get()
    assert (result.kind, result.node_id, result.identity, result.file, result.line) == (
        "pytest",
        "tests/test_a.py::test_b",
        "tests/test_a.py::test_b",
        "tests/test_a.py",
        7,
    )


@pytest.mark.regression("BUG-065")
def test_p1_integrity_identity_link_misses_repeats_regression():
    """BUG-065 (P1, integrity): a bug linked to a test identity got only its first repeat.

    A TestNG data provider writes one testcase per invocation; the reader numbers the repeats
    (``…::roundsToCents[#2]``), but results were attached to a bug only when their node id equalled the
    link, so a bug linked to ``…::roundsToCents`` saw the first, passing invocation and was resolved while
    the second failed on the same commit.
    """
    from bugs.models import BugResult, BugStatus
    from bugs.services.imports import run_import
    from bugs.tests.factories import make_bug, make_regression_test

    sha = "c" * 40
    bug = make_bug(severity="P2", status=BugStatus.FIXED, fix_commit=sha)
    identity = "TestSuite::com.acme.pricing.PriceTest::roundsToCents"
    make_regression_test(bug=bug, node_id=identity)
    with open(DATA + "surefire_testng_dataprovider.xml", "rb") as report:
        run_import(stream=report, commit_sha=sha)
    assert sorted(BugResult.objects.filter(bug=bug).values_list("result__ordinal", flat=True)) == [1, 2, 3]
    bug.refresh_from_db()
    assert bug.status == BugStatus.FIXED


def test_a_link_to_an_identity_shows_its_worst_repeat_as_latest_result():
    from bugs.services.imports import run_import
    from bugs.tests.factories import make_bug, make_regression_test

    link = make_regression_test(bug=make_bug(severity="P2"), node_id="TestSuite::com.acme.pricing.PriceTest::roundsToCents")
    with open(DATA + "surefire_testng_dataprovider.xml", "rb") as report:
        run_import(stream=report, commit_sha="d" * 40)
    link.refresh_from_db()
    assert link.last_result is not None
    assert (link.last_result.outcome, link.last_result.ordinal) == ("failed", 2)
