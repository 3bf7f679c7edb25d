"""runs/import/ checks the head of an upload, keeps it and answers 202; a worker reads it with progress shown."""

from __future__ import annotations

import io
import time

import pytest

from bugs.models import Result, Run
from bugs.uploads import parse_report

pytestmark = pytest.mark.django_db


def big_junit(megabytes: int = 60) -> bytes:
    """A JUnit file of about ``megabytes`` MB of small testcases, one in ten failing: slow to read, quick to check."""
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="big">']
    size, index, pad = len(parts[0]), 0, b"x" * 150
    while size < megabytes << 20:
        verdict = b'<failure message="boom"/>' if index % 10 == 0 else b""
        case = b'<testcase classname="com.acme.Big%d" name="t%d" time="0.001">%s<system-out>%s</system-out></testcase>\n' % (
            index // 100,
            index,
            verdict,
            pad,
        )
        parts.append(case)
        size += len(case)
        index += 1
    parts.append(b"</testsuite></testsuites>")
    return b"".join(parts)


@pytest.mark.regression("BUG-066")
def test_p2_crash_import_parses_inside_the_request_regression(staff_user, client_for, django_capture_on_commit_callbacks):
    """BUG-066 (P2, crash): runs/import/ parsed and stored the whole upload before answering.

    A request held its worker for the whole parse, storage and status rules: a 60 MB report of a quarter
    of a million testcases took longer than the proxy waits, and a 20 MB one killed a gunicorn worker at
    30 s with an HTML 500. The route must check only the head, keep the upload and answer 202.
    """
    body = big_junit()
    start = time.perf_counter()
    parse_report(io.BytesIO(body))
    parse_seconds = time.perf_counter() - start
    with django_capture_on_commit_callbacks(execute=False):
        start = time.perf_counter()
        response = client_for(staff_user).post("/api/v1/runs/import/?commit_sha=abc1234", data=body, content_type="application/xml")
        answer_seconds = time.perf_counter() - start
    assert response.status_code == 202, response.content[:500]
    assert response.json()["status"] == "queued"
    assert not Result.objects.exists()
    assert Run.objects.get().status == "queued"
    assert answer_seconds < parse_seconds / 2, (answer_seconds, parse_seconds)
