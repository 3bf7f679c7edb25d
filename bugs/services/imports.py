"""Imports from an external CI: an upload is checked from its head and kept, then a worker reads it.

The request never waits for the parse: ``run_import_receive`` checks what the head tells (byte-order
mark, encoding, root element), stores the upload in the database where every worker can read it, and
queues the run. ``run_import_parse`` (the worker) streams the report into results in batches, showing
progress, and attaches them to bugs only once the whole file is read, so a report broken halfway ends
the run as an error with nothing half-attached. ``run_import`` does both in one transaction, for the
command line and the tests.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from typing import IO, Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from atom.errors import DomainError, ServiceUnavailableError
from bugs import git
from bugs.models import Result, Run, RunStatus, RunUpload, Suite
from bugs.parsers import ParsedResult, ReportFormatError
from bugs.services.results import results_attach, results_store, run_finalize
from bugs.services.suites import suite_default
from bugs.uploads import iter_report, report_check

IMPORT_BATCH = 10_000
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_BUILD = re.compile(r"^[A-Za-z0-9._:/#+@-]{1,200}$")


def _checked(commit_sha: str, branch: str, build: str) -> tuple[str, str, str]:
    commit_sha, branch, build = commit_sha.strip(), branch.strip(), build.strip()
    if commit_sha and not git.is_sha(commit_sha):
        raise DomainError("commit_sha must be a commit hash.", code="INVALID_COMMIT")
    if branch and not _BRANCH.match(branch):
        raise DomainError("branch is not a valid branch name.", code="INVALID_BRANCH")
    if build and not _BUILD.match(build):
        raise DomainError("build is not a CI build id (letters, digits and ._:/#+@-).", code="INVALID_BUILD")
    return commit_sha.lower(), branch, build


def _read_checked(stream: IO[bytes]) -> tuple[bytes, str]:
    """The upload's bytes and its kind, once its head passed the quick check (400 when it does not)."""
    content = stream.read()
    try:
        kind = report_check(io.BytesIO(content))
    except ReportFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    return content, kind


def _create(
    *, content: bytes, kind: str, name: str, suite: Suite | None, commit_sha: str, branch: str, build: str, triggered_by: Any
) -> Run:
    run = Run.objects.create(
        suite=suite or suite_default(),
        trigger=Run.Trigger.IMPORT,
        triggered_by=triggered_by,
        status=RunStatus.QUEUED,
        commit_sha=commit_sha,
        branch=branch,
        build=build,
        upload_sha256=hashlib.sha256(content).hexdigest(),
    )
    upload = RunUpload.objects.create(run=run, kind=kind, name=name[:255], size=len(content), content=b"" if _binary_bind() else content)
    if _binary_bind():
        # Django binds parameters on the client, quoting 64 MB of bytea as 128 MB of text for the server
        # to parse back; sent as a binary parameter on the same connection (and transaction) it is a copy.
        from psycopg import Cursor

        table = connection.ops.quote_name(RunUpload._meta.db_table)
        with Cursor(connection.connection) as cursor:
            cursor.execute(f"UPDATE {table} SET content = %b WHERE run_id = %s", [content, upload.pk])  # noqa: S608  # nosec B608
    return run


def _binary_bind() -> bool:
    return connection.vendor == "postgresql"


@transaction.atomic
def run_import_receive(
    *,
    stream: IO[bytes],
    name: str = "",
    suite: Suite | None = None,
    commit_sha: str = "",
    branch: str = "",
    build: str = "",
    triggered_by: Any = None,
) -> Run:
    """Check an external CI's report from its head, keep it and queue its run (read by a worker).

    Hostile XML (a DTD), an unknown encoding, a root that is not JUnit's or a first line that is no
    JSON object are refused at once with a 400; nothing is written then. The parse is queued only when
    the transaction commits.
    """
    commit_sha, branch, build = _checked(commit_sha, branch, build)
    content, kind = _read_checked(stream)
    run = _create(
        content=content, kind=kind, name=name, suite=suite, commit_sha=commit_sha, branch=branch, build=build, triggered_by=triggered_by
    )
    transaction.on_commit(lambda: run_import_enqueue(run_id=run.pk), robust=False)
    return run


def run_import_enqueue(*, run_id: int) -> None:
    """Send the import to the workers; with the broker down the run ends as an error and the caller gets 503."""
    from kombu.exceptions import OperationalError as BrokerError

    from bugs.tasks import run_import_task

    try:
        run_import_task.delay(run_id)
    except BrokerError as exc:
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.ERROR, error_message="The task queue was unavailable; send the report again.", finished_at=timezone.now()
        )
        raise ServiceUnavailableError("The task queue is unavailable; the report was not imported.") from exc


def _store_batches(run: Run, results: Iterable[ParsedResult], *, estimate: int = 0) -> float:
    """Store the results in batches of IMPORT_BATCH, unattached, showing progress; return their total duration."""
    stored, duration, batch = 0, 0.0, []
    for result in results:
        batch.append(result)
        duration += result.duration_seconds
        if len(batch) >= IMPORT_BATCH:
            stored += results_store(run=run, parsed=batch, attach=False)
            batch = []
            Run.objects.filter(pk=run.pk).update(done=stored, total=max(stored, estimate))
    stored += results_store(run=run, parsed=batch, attach=False)
    Run.objects.filter(pk=run.pk).update(done=stored, total=stored)
    return duration


def _estimate(content: bytes, kind: str) -> int:
    """How many results to expect, for the progress bar (corrected once the file is read)."""
    return content.count(b"<testcase") if kind == "junit" else content.count(b'"when": "call"')


def run_import_parse(*, run_id: int) -> bool:
    """Read a queued import's upload into results, attach them and finalize the run (the worker's part).

    Safe to deliver twice: a finished run is left alone, and a run whose worker died midway is read
    again from the start (results are upserted). A report broken further on ends the run as an error
    naming why, with its results removed and nothing attached. Returns whether the run was finalized.
    """
    claimed = Run.objects.filter(pk=run_id, trigger=Run.Trigger.IMPORT, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    upload = RunUpload.objects.filter(run_id=run_id).first() if claimed else None
    if upload is None:
        if claimed:
            _fail(run_id, "The uploaded report is missing.")
        return False
    run = Run.objects.select_related("suite").get(pk=run_id)
    content = bytes(upload.content)
    try:
        duration = _store_batches(run, iter_report(io.BytesIO(content)), estimate=_estimate(content, upload.kind))
    except ReportFormatError as exc:
        _fail(run_id, f"The report could not be read: {exc}")
        return False
    except (OperationalError, InterfaceError):
        raise  # retried by the task; the run stays claimable
    except Exception as exc:
        _fail(run_id, f"The import failed: {type(exc).__name__}.")
        raise
    with transaction.atomic():
        results_attach(run=run)
        return run_finalize(run_id=run_id, duration=duration)


@transaction.atomic
def _fail(run_id: int, reason: str) -> None:
    Result.objects.filter(run_id=run_id).delete()
    Run.objects.filter(pk=run_id).update(status=RunStatus.ERROR, error_message=reason[:10000], finished_at=timezone.now(), done=0)


@transaction.atomic
def run_import(
    *,
    stream: IO[bytes],
    name: str = "",
    suite: Suite | None = None,
    commit_sha: str = "",
    branch: str = "",
    build: str = "",
    triggered_by: Any = None,
) -> Run:
    """Import a report in this process, in one transaction: a finished run, or a 400 with nothing written."""
    commit_sha, branch, build = _checked(commit_sha, branch, build)
    content, kind = _read_checked(stream)
    run = _create(
        content=content, kind=kind, name=name, suite=suite, commit_sha=commit_sha, branch=branch, build=build, triggered_by=triggered_by
    )
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    try:
        duration = _store_batches(run, iter_report(io.BytesIO(content)))
    except ReportFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    results_attach(run=run)
    run_finalize(run_id=run.pk, duration=duration)
    run.refresh_from_db()
    return run
