"""Regression tests for JUnit reports as the tools write them: every testcase kept, its worst result, its reruns."""

from __future__ import annotations

import io
import time

import pytest

from bugs.parsers import ParsedResult, ReportFormatError
from bugs.uploads import parse_report


def _read(body: bytes) -> list[ParsedResult]:
    return parse_report(io.BytesIO(body))


@pytest.mark.regression("BUG-056")
def test_p1_integrity_junit_repeated_testcase_failure_dropped_regression():
    """BUG-056 (P1, integrity): a testcase repeated under one classname and name kept only the first.

    TestNG data providers (through Surefire) and Jenkins-style reports write one ``<testcase>`` per
    invocation with the same classname and name. The reader keyed results by the rebuilt node id, so the
    first invocation won and a later failure vanished: the run was stored as passed.
    """
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="TestSuite" tests="3" failures="1">
  <testcase classname="com.acme.PriceTest" name="rounds" time="0.010"/>
  <testcase classname="com.acme.PriceTest" name="rounds" time="0.010"><failure message="expected [3] but found [4]"/></testcase>
  <testcase classname="com.acme.PriceTest" name="rounds" time="0.010"/>
</testsuite>"""
    results = _read(body)
    assert len(results) == 3
    assert sorted(r.outcome for r in results) == ["failed", "passed", "passed"]
    assert len({r.node_id for r in results}) == 3


@pytest.mark.regression("BUG-057")
def test_p1_integrity_junit_same_name_in_two_suites_merged_regression():
    """BUG-057 (P1, integrity): tests of different suites with one name and no classname became one result.

    jest-junit writes an empty classname for a test outside any describe block and no ``file=`` by
    default. The reader built the node id from classname and name only, so every such test of every
    suite collapsed into ``.py::<name>``: one report lost 304 of 4,239 tests and two failures became one.
    """
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="2">
  <testsuite name="Widget" tests="1" failures="0"><testcase classname="" name="Load widget via link" time="0.1"/></testsuite>
  <testsuite name="Embed" tests="1" failures="1">
    <testcase classname="" name="Load widget via link" time="0.1"><failure>Error: embed missing</failure></testcase>
  </testsuite>
  <testsuite name="Popup" tests="1" failures="1">
    <testcase classname="" name="Load widget via link" time="0.1"><failure>Error: popup blocked</failure></testcase>
  </testsuite>
</testsuites>"""
    results = _read(body)
    assert len(results) == 3
    assert len({r.node_id for r in results}) == 3
    assert sorted(r.outcome for r in results) == ["failed", "failed", "passed"]


@pytest.mark.regression("BUG-058")
def test_p1_integrity_junit_first_result_child_wins_regression():
    """BUG-058 (P1, integrity): a testcase with several result children took the first one.

    ``<skipped/>`` followed by ``<failure/>`` (a skip recorded, then a failure in teardown or a retry
    harness) was stored as skipped, so a run holding only that failure was stored as passed. The worst
    child must win, and every child's message must stay readable.
    """
    body = b"""<testsuites><testsuite name="checkout">
  <testcase classname="checkout.Payment" name="refund" time="0.2">
    <skipped message="gateway sandbox offline"/>
    <failure message="refund posted twice" type="AssertionError">ledger has 2 rows</failure>
  </testcase>
</testsuite></testsuites>"""
    [result] = _read(body)
    assert result.outcome == "failed"
    assert "refund posted twice" in result.message
    assert "gateway sandbox offline" in result.message


_DOTNET = (
    '<?xml version="1.0" encoding="utf-8"?><testsuite name="Acme.Tests"><testcase classname="Acme.Tests.Cart" name="Adds"/></testsuite>'
)


@pytest.mark.regression("BUG-059")
@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + _DOTNET.encode(),
        _DOTNET.replace("utf-8", "utf-16").encode("utf-16"),
    ],
    ids=["utf-8-bom", "utf-16"],
)
def test_p2_quality_junit_byte_order_mark_refused_regression(body):
    """BUG-059 (P2, quality): a JUnit file starting with a byte-order mark was refused as "not a report".

    xUnit.net and NUnit converters, and other .NET tools, write a UTF-8 byte-order mark; some write
    UTF-16. The format was detected from the first byte being ``<``, so these files answered 400
    "neither JUnit XML nor a pytest report log".
    """
    [result] = _read(body)
    assert result.outcome == "passed"
    assert result.node_id == "Acme.Tests::Acme.Tests.Cart::Adds"


@pytest.mark.regression("BUG-060")
def test_p1_integrity_non_junit_xml_accepted_as_passed_regression():
    """BUG-060 (P1, integrity): well-formed XML that is not JUnit was stored as a passed run of 0 tests.

    NUnit 3's own ``<test-run>`` report, with failures, was accepted (201, 0 tests, PASSED): the reader
    looked only for ``<testcase>`` elements anywhere and found none.
    """
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<test-run id="0" testcasecount="2" result="Failed" total="2" passed="1" failed="1">
  <test-suite type="Assembly" name="Acme.Tests.dll" result="Failed">
    <test-case id="0-1001" name="Adds" fullname="Acme.Tests.CartTests.Adds" result="Passed"/>
    <test-case id="0-1002" name="Removes" fullname="Acme.Tests.CartTests.Removes" result="Failed"/>
  </test-suite>
</test-run>"""
    with pytest.raises(ReportFormatError, match="test-run"):
        _read(body)


@pytest.mark.regression("BUG-061")
def test_p1_integrity_junit_rerun_elements_ignored_regression():
    """BUG-061 (P1, integrity): Surefire's and nextest's rerun elements were ignored.

    A test that passed only after two ``<flakyFailure>`` attempts was stored as a clean pass of one
    attempt (it could verify a fix), and a test whose ``<failure>`` came with two ``<rerunFailure>``
    attempts was stored with one attempt, so the confirmation rule never saw an external failure confirmed.
    """
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="io.acme.FlakyTest" tests="2" failures="1">
  <testcase name="eventuallyPasses" classname="io.acme.FlakyTest" time="0.001">
    <flakyFailure message="obvious fail" type="AssertionFailedError"><stackTrace>at io.acme.FlakyTest</stackTrace></flakyFailure>
    <flakyFailure message="try one more time" type="AssertionFailedError"/>
  </testcase>
  <testcase name="alwaysFails" classname="io.acme.FlakyTest" time="0.002">
    <failure message="still broken" type="java.lang.AssertionError"/>
    <rerunFailure message="still broken" type="java.lang.AssertionError"/>
    <rerunFailure message="still broken" type="java.lang.AssertionError"/>
  </testcase>
</testsuite>"""
    results = {r.node_id.rpartition("::")[2]: r for r in _read(body)}
    flaky, failing = results["eventuallyPasses"], results["alwaysFails"]
    assert (flaky.outcome, flaky.is_flaky, flaky.attempts) == ("passed", True, 3)
    assert (failing.outcome, failing.is_flaky, failing.attempts) == ("failed", False, 3)


@pytest.mark.regression("BUG-062")
@pytest.mark.parametrize(
    ("suite", "classname", "name", "expected"),
    [
        (
            "org.apache.pulsar.AddMissingPatchVersionTest",
            "org.apache.pulsar.AddMissingPatchVersionTest",
            "testVersionStrings",
            "org.apache.pulsar.AddMissingPatchVersionTest::testVersionStrings",
        ),
        ("package/pass", "package/pass", "TestPass", "package/pass::TestPass"),
        ("Widget", "Widget", "", 'Widget::""'),
    ],
    ids=["surefire", "go-junit-report", "empty-name"],
)
def test_p2_integrity_junit_invented_python_node_ids_regression(suite, classname, name, expected):
    """BUG-062 (P2, integrity): identities of other tools' tests were rebuilt as invented Python paths.

    Every JUnit testcase went through pytest's node-id rebuild, giving
    ``org/apache/pulsar.py::AddMissingPatchVersionTest::testVersionStrings``, ``package/pass.py::TestPass``
    or a trailing ``::`` for an empty name: nobody could link a bug to a test by writing what their CI shows.
    """
    body = f'<testsuite name="{suite}"><testcase classname="{classname}" name="{name}"/></testsuite>'.encode()
    [result] = _read(body)
    assert result.node_id == expected
    assert ".py" not in result.node_id
    assert not result.node_id.endswith("::")


def _seconds_to_read(megabytes: int) -> float:
    body = b'<testsuite name="t"><testcase classname="c" name="n"><failure message="'
    body += b"x" * (megabytes << 20) + b'">trace</failure></testcase></testsuite>'
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        [result] = _read(body)
        best = min(best, time.perf_counter() - start)
        assert result.outcome == "failed"
    return best


@pytest.mark.regression("BUG-063")
def test_p2_crash_junit_huge_attribute_quadratic_regression():
    """BUG-063 (P2, crash): one long attribute made the JUnit parse quadratic.

    An 8 MB failure message took 7.4 s and a 20 MB upload outlived the worker's 30 s limit (HTML 500):
    the expat bundled with this Python re-scans a large token on every buffer it receives. Reading
    8 MB must cost about eight times 1 MB; the bound leaves room for a noisy machine (quadratic is 64x).
    """
    small, large = _seconds_to_read(1), _seconds_to_read(8)
    assert large / max(small, 0.005) < 24, (small, large)
