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


def _post(client, body: bytes, query: str = ""):
    return client.post(f"/api/v1/runs/import/{query}", data=body, content_type="application/xml")


FAILING_LINKED = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="TestSuite">
  <testcase classname="io.acme.CheckoutTest" name="paysByCard"><failure message="declined"/></testcase>
  <testcase classname="io.acme.CheckoutTest" name="refunds"/>
"""


def test_an_import_is_read_by_the_worker_with_its_upload_kept_for_download(staff_user, client_for, imports_inline):
    from bugs.models import BugResult
    from bugs.services.bugs import bug_create, bug_link_test

    bug = bug_create(key="BUG-001", title="Card payments fail", severity="P2")
    bug_link_test(bug=bug, node_id="TestSuite::io.acme.CheckoutTest::paysByCard")
    body = FAILING_LINKED + b"</testsuite>"
    client = client_for(staff_user)
    response = _post(client, body, "?commit_sha=abc1234&build=ci-42")
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.status, run.total, run.done, run.failed, run.build) == ("failed", 2, 2, 1, "ci-42")
    assert BugResult.objects.get(bug=bug).result.outcome == "failed"
    download = client.get(f"/api/v1/runs/{run.pk}/upload/")
    assert download.status_code == 200
    assert download.getvalue() == body
    assert download["Content-Type"] == "application/xml"
    import hashlib

    assert run.upload_sha256 == hashlib.sha256(body).hexdigest()


def test_the_upload_is_only_for_those_who_may_see_runs(client_for, django_user_model, imports_inline, staff_user):
    run_id = _post(client_for(staff_user), FAILING_LINKED + b"</testsuite>").json()["id"]
    nobody = django_user_model.objects.create_user(username="nobody", password="correct horse battery staple")
    assert client_for(nobody).get(f"/api/v1/runs/{run_id}/upload/").status_code == 403
    assert client_for(staff_user).get("/api/v1/runs/999999/upload/").status_code == 404


def test_a_report_broken_halfway_ends_the_run_as_an_error_with_nothing_attached(staff_user, client_for, imports_inline):
    from bugs.models import BugResult
    from bugs.services.bugs import bug_create, bug_link_test

    bug = bug_create(key="BUG-001", title="Card payments fail", severity="P2")
    bug_link_test(bug=bug, node_id="TestSuite::io.acme.CheckoutTest::paysByCard")
    response = _post(client_for(staff_user), FAILING_LINKED + b"<testcase classname='x' name=\"unclosed></testsuite>")
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert run.status == "error"
    assert run.error_message.startswith("The report could not be read: The XML is malformed")
    assert not Result.objects.exists()
    assert not BugResult.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xef\xbb\xbf",
        b"<test-run><test-case/></test-run>",
        b'<?xml version="1.0" encoding="x-unknown"?><testsuite/>',
        b"<!DOCTYPE x><testsuite/>",
        b"not a report",
        b"<testsuite><testcase name='a' time='NaN'/></testsuite>",
        b"<testsuite>" + b"<testcase name='a'>" * 3000,
        b'{"$report_type": "SessionStart"}\n{"$report_type": "TestReport", "nodeid": 3}\n',
        b"\xff\xfe<\x00t\x00",
    ],
    ids=["empty", "bom-only", "nunit", "unknown-encoding", "doctype", "text", "nan", "deep", "log-bad-nodeid", "utf16-cut"],
)
def test_no_upload_answers_5xx_and_a_bad_one_never_stays_queued(staff_user, client_for, imports_inline, body):
    response = _post(client_for(staff_user), body)
    assert response.status_code in (202, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "INVALID_REPORT"
        assert not Run.objects.exists()
    else:
        assert Run.objects.get().status in ("error", "passed", "failed")


def test_an_8_mb_attribute_is_read_by_the_worker_and_its_excerpt_truncated_visibly(staff_user, client_for, imports_inline):
    message = b"x" * (8 << 20)
    body = b'<testsuite name="t"><testcase classname="c" name="n"><failure message="' + message
    body += b'">trace</failure></testcase></testsuite>'
    start = time.perf_counter()
    response = _post(client_for(staff_user), body)
    assert response.status_code == 202
    assert time.perf_counter() - start < 10
    result = Result.objects.get()
    assert result.outcome == "failed"
    assert result.message.endswith("… [truncated]")
    assert client_for(staff_user).get(f"/api/v1/runs/{result.run_id}/upload/").getvalue() == body


def test_a_second_delivery_of_the_parse_changes_nothing(staff_user, client_for, imports_inline):
    from bugs.services.imports import run_import_parse

    run_id = _post(client_for(staff_user), FAILING_LINKED + b"</testsuite>").json()["id"]
    before = list(Result.objects.values_list("pk", "outcome"))
    assert run_import_parse(run_id=run_id) is False
    assert list(Result.objects.values_list("pk", "outcome")) == before


def test_the_broker_down_at_enqueue_answers_503_and_ends_the_run(staff_user, client_for, django_capture_on_commit_callbacks, monkeypatch):
    from kombu.exceptions import OperationalError

    def down(run_id: int) -> None:
        raise OperationalError("broker down")

    from atom.errors import ServiceUnavailableError

    monkeypatch.setattr("bugs.tasks.run_import_task.delay", down)
    # Outside a test the request's commit runs the callback inside the view, which answers 503.
    with pytest.raises(ServiceUnavailableError), django_capture_on_commit_callbacks(execute=True):
        _post(client_for(staff_user), FAILING_LINKED + b"</testsuite>")
    assert Run.objects.get().status == "error"


def test_the_admin_links_the_uploaded_report_for_download(staff_user, client_for, imports_inline, client, django_user_model):
    from django.urls import reverse

    body = FAILING_LINKED + b"</testsuite>"
    run_id = _post(client_for(staff_user), body).json()["id"]
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-correct-horse"))
    page = client.get(reverse("admin:bugs_run_change", args=[run_id]))
    url = reverse("admin:bugs_run_upload", args=[run_id])
    assert url in page.content.decode()
    assert client.get(url).getvalue() == body
