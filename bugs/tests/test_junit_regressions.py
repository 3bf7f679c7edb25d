"""Regression tests for JUnit reports as the tools write them: every testcase kept, its worst result, its reruns."""

from __future__ import annotations

import io

import pytest

from bugs.parsers import parse_report


def _read(body: bytes) -> list:
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
