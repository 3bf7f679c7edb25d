"""An uploaded report is kept in slices: stored as it is read, read back as it is parsed or downloaded,
so neither the request nor the worker ever holds the whole report, and no byte is lost or added."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import tracemalloc

import pytest
from django.urls import reverse

from bugs.models import BugResult, Result, Run, RunUpload, RunUploadPart

pytestmark = pytest.mark.django_db

PART = 64  # small slices, so that a short report crosses many boundaries


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr("bugs.services.imports.UPLOAD_PART_BYTES", PART)


def _junit(names: list[str]) -> bytes:
    # A byte-order mark, CRLF line ends and characters of several UTF-8 lengths, as Windows CI tools write.
    cases = "".join(f'\r\n  <testcase classname="tests.Ünïcode" name="{name}" time="0.5"/>' for name in names)
    return ('\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n<testsuite name="ci">' + cases + "\r\n</testsuite>\r\n").encode()


def _post(client, body: bytes):
    return client.post("/api/v1/runs/import/", data=body, content_type="application/xml")


def test_a_report_is_stored_in_slices_and_downloaded_byte_for_byte(staff_user, client_for, imports_inline, small_parts, client):
    names = [f"test_{n}_🚀" for n in range(40)]
    body = _junit(names)
    assert len(body) % PART  # the last slice is a short one
    response = _post(client_for(staff_user), body)
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.status, run.total, run.passed) == ("passed", 40, 40)
    assert run.upload_sha256 == hashlib.sha256(body).hexdigest()

    upload = RunUpload.objects.get(run=run)
    sizes = list(RunUploadPart.objects.filter(upload=upload).order_by("index").values_list("index", "data"))
    assert [index for index, _ in sizes] == list(range(-(-len(body) // PART)))
    assert all(len(bytes(data)) == PART for _, data in sizes[:-1])
    assert b"".join(bytes(data) for _, data in sizes) == body
    assert (upload.size, upload.parts) == (len(body), len(sizes))

    download = client_for(staff_user).get(f"/api/v1/runs/{run.pk}/upload/")
    assert download.status_code == 200
    assert download["Content-Length"] == str(len(body))
    assert download.getvalue() == body
    staff_user.is_superuser = True
    staff_user.save(update_fields=["is_superuser"])
    client.force_login(staff_user)
    assert client.get(reverse("admin:bugs_run_upload", args=[run.pk])).getvalue() == body


def test_a_report_of_exactly_whole_slices_has_no_empty_slice(staff_user, client_for, imports_inline, small_parts):
    body = _junit(["a", "b"])
    body += b" " * (-len(body) % PART)
    response = _post(client_for(staff_user), body)
    upload = RunUpload.objects.get(run_id=response.json()["id"])
    assert upload.parts == len(body) // PART
    assert not RunUploadPart.objects.filter(upload=upload, data=b"").exists()
    assert client_for(staff_user).get(f"/api/v1/runs/{upload.pk}/upload/").getvalue() == body


@pytest.mark.parametrize("offset", range(9))
def test_the_progress_estimate_counts_a_testcase_cut_by_a_slice_boundary_once(staff_user, client_for, small_parts, offset):
    # "<testcase" starts `offset` bytes before the end of the first slice: cut after each of its letters.
    head = b"<testsuite>"
    padding = b" " * (PART - len(head) - offset)
    body = head + padding + b'<testcase name="a"/><testcase name="b"/><testcase name="c"/></testsuite>'
    from unittest import mock

    with mock.patch("bugs.services.imports.run_import_enqueue"):
        response = _post(client_for(staff_user), body)
    assert response.status_code == 202, response.content
    assert RunUpload.objects.get(run_id=response.json()["id"]).estimate == 3


def test_a_report_log_is_stored_and_read_across_slices(staff_user, client_for, imports_inline, small_parts):
    def report(nodeid: str, outcome: str, longrepr: str | None) -> bytes:
        name = nodeid.rpartition("::")[2]
        record: dict[str, object] = {"nodeid": nodeid, "location": ["tests/test_a.py", 1, name], "keywords": {}}
        record.update(outcome=outcome, longrepr=longrepr, when="call", user_properties=[], sections=[], duration=0.1)
        record["$report_type"] = "TestReport"
        return json.dumps(record, ensure_ascii=False).encode()

    lines = [
        json.dumps({"pytest_version": "8.3.3", "$report_type": "SessionStart"}).encode(),
        report("tests/test_a.py::test_été", "passed", None),
        report("tests/test_a.py::test_b", "failed", "assert 1 == 2"),
        json.dumps({"exitstatus": 1, "$report_type": "SessionFinish"}).encode(),
    ]
    body = b"\n".join(lines) + b"\n"
    response = client_for(staff_user).post("/api/v1/runs/import/", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.status, run.total, run.passed, run.failed) == ("failed", 2, 1, 1)
    assert RunUpload.objects.get(run=run).estimate == 2
    assert sorted(Result.objects.filter(run=run).values_list("node_id", flat=True)) == [
        "tests/test_a.py::test_b",
        "tests/test_a.py::test_été",
    ]


def test_a_missing_slice_ends_the_import_as_an_error_not_as_a_shorter_report(staff_user, client_for, small_parts):
    from unittest import mock

    from bugs.services.bugs import bug_create, bug_link_test
    from bugs.services.imports import run_import_parse

    bug = bug_create(key="BUG-001", title="Last case fails", severity="P2")
    bug_link_test(bug=bug, node_id="ci::tests.Ünïcode::test_9")
    with mock.patch("bugs.services.imports.run_import_enqueue"):
        run_id = _post(client_for(staff_user), _junit([f"test_{n}" for n in range(10)])).json()["id"]
    upload = RunUpload.objects.get(run_id=run_id)
    RunUploadPart.objects.filter(upload=upload, index=upload.parts - 2).delete()

    assert run_import_parse(run_id=run_id) is False
    run = Run.objects.get(pk=run_id)
    assert run.status == "error"
    assert run.error_message == f"The report could not be read: The stored upload lacks part {upload.parts - 1} of {upload.parts}."
    assert not Result.objects.filter(run=run).exists()
    assert not BugResult.objects.exists()


def test_a_slice_cut_short_ends_the_import_as_an_error(staff_user, client_for, small_parts):
    from unittest import mock

    from bugs.services.imports import run_import_parse

    body = _junit(["a", "b", "c"])
    with mock.patch("bugs.services.imports.run_import_enqueue"):
        run_id = _post(client_for(staff_user), body).json()["id"]
    upload = RunUpload.objects.get(run_id=run_id)
    # The last slice loses its final bytes, which are blanks after the root: the XML still parses.
    last = RunUploadPart.objects.get(upload=upload, index=upload.parts - 1)
    last.data = bytes(last.data)[:-2]
    last.save()
    assert run_import_parse(run_id=run_id) is False
    run = Run.objects.get(pk=run_id)
    assert run.status == "error"
    assert (
        run.error_message
        == f"The report could not be read: The stored upload holds {len(body) - 2} bytes, not the {len(body)} that were sent."
    )


def test_storing_and_reading_a_16_mb_report_never_holds_it_in_memory():
    """The receive and the parse stay far below the report's size in Python memory."""
    from unittest import mock

    from bugs.services.imports import run_import_parse, run_import_receive

    output = b"o" * 4000
    with tempfile.TemporaryFile() as report:
        report.write(b'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="big">')
        for n in range(4200):
            report.write(b'<testcase classname="c" name="t%d" time="0.1"><system-out>%s</system-out></testcase>' % (n, output))
        report.write(b"</testsuite></testsuites>")
        size = report.tell()
        report.seek(0)
        assert size > 16 << 20
        tracemalloc.start()
        try:
            with mock.patch("bugs.services.imports.run_import_enqueue"):
                run = run_import_receive(stream=report, name="big.xml")
            _, receive_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            assert run_import_parse(run_id=run.pk)
            _, parse_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert Run.objects.get(pk=run.pk).total == 4200
    assert RunUpload.objects.get(run=run).size == size
    assert receive_peak < 4 << 20, receive_peak
    assert parse_peak < 8 << 20, parse_peak


def test_a_report_uploaded_from_a_file_object_is_stored_whole():
    """Streams that answer short reads (a pipe, a socket) are read to their end."""
    from unittest import mock

    from bugs.services.imports import run_import_receive

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._data[: min(7, len(buffer))]
            self._data = self._data[len(chunk) :]
            buffer[: len(chunk)] = chunk
            return len(chunk)

    body = _junit([f"t{n}" for n in range(300)])
    with mock.patch("bugs.services.imports.run_import_enqueue"):
        run = run_import_receive(stream=Trickle(body), name="trickle.xml")  # type: ignore[arg-type]
    upload = RunUpload.objects.get(run=run)
    assert upload.size == len(body)
    parts = RunUploadPart.objects.filter(upload=upload).order_by("index").values_list("data", flat=True)
    assert b"".join(bytes(part) for part in parts) == body


def test_a_raw_body_is_spooled_to_disk_not_read_into_memory(settings):
    from bugs.api.views import RawReportParser

    body = b"<testsuite>" + b'<testcase name="t"/>' * (1 << 20) + b"</testsuite>"
    tracemalloc.start()
    try:
        parsed = RawReportParser().parse(io.BytesIO(body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < settings.FILE_UPLOAD_MAX_MEMORY_SIZE + (3 << 20) < len(body) / 4, peak
    with parsed["_raw"] as spooled:
        assert spooled.read() == body


@pytest.mark.django_db(transaction=True)
def test_the_migration_slices_the_uploads_already_stored_and_joins_them_back():
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("bugs", "0016_merge_suite_environments"), ("bugs", "0017_upload_parts")
    body = _junit([f"case_{n}_{'x' * 180}" for n in range(11_000)])
    assert 2 << 20 < len(body) < 3 << 20
    call_command("migrate", *before, verbosity=0)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        suite = old.get_model("bugs", "Suite").objects.create(name="imported")
        run = old.get_model("bugs", "Run").objects.create(suite=suite, trigger="import", status="queued")
        old.get_model("bugs", "RunUpload").objects.create(run=run, kind="junit", size=len(body), content=body)

        call_command("migrate", *after, verbosity=0)
        new = MigrationExecutor(connection).loader.project_state(after).apps
        upload = new.get_model("bugs", "RunUpload").objects.get(pk=run.pk)
        parts = new.get_model("bugs", "RunUploadPart").objects.filter(upload_id=run.pk).order_by("index")
        assert [len(bytes(part.data)) for part in parts] == [1 << 20, 1 << 20, len(body) - (2 << 20)]
        assert b"".join(bytes(part.data) for part in parts) == body
        assert (upload.size, upload.parts, upload.estimate) == (len(body), 3, 11_000)

        call_command("migrate", *before, verbosity=0)
        old = MigrationExecutor(connection).loader.project_state(before).apps
        assert bytes(old.get_model("bugs", "RunUpload").objects.get(pk=run.pk).content) == body
    finally:
        call_command("migrate", verbosity=0)
