"""Imports from an external CI: an upload is checked from its head and kept, then a worker reads it.

The request never waits for the parse: ``run_import_receive`` checks what the head tells (byte-order
mark, encoding, root element), stores the upload in the database where every worker can read it, and
queues the run. The upload is written and read in slices (RunUploadPart), so neither side ever holds
the whole report in memory. ``run_import_parse`` (the worker) streams the report into results in
batches, showing progress, and attaches them to bugs only once the whole file is read, so a report
broken halfway ends the run as an error with nothing half-attached. ``run_import`` does both in one transaction, for the
command line and the tests.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import IO, Any, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from atom.errors import DomainError, ServiceUnavailableError
from atom.prepared import prepared_cursor
from bugs import git
from bugs.models import Result, Run, RunStatus, RunUpload, RunUploadPart, Suite
from bugs.parsers import ParsedResult, ReportFormatError
from bugs.selectors import run_upload_open
from bugs.services.results import results_attach, results_store, run_finalize
from bugs.services.suites import suite_default
from bugs.uploads import iter_report, report_check

IMPORT_BATCH = 10_000
UPLOAD_PART_BYTES = 1 << 20
# What marks one result in each kind of report: counted as the upload is stored, for the progress bar.
_RESULT_MARKS = {"junit": b"<testcase", "report-log": b'"when": "call"'}
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


class _Recording(io.RawIOBase):
    """A stream that keeps what is read from it: the head the quick check reads is stored with the rest."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.taken = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.taken += data
        return len(data)


def _head_checked(stream: IO[bytes]) -> tuple[str, bytes]:
    """The upload's kind and the bytes its quick check read, once the head passed it (400 when it does not)."""
    recording = _Recording(stream)
    try:
        kind = report_check(cast(IO[bytes], recording))
    except ReportFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    return kind, bytes(recording.taken)


def _slices(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """``head`` and then the rest of ``stream``, in slices of UPLOAD_PART_BYTES (the last may be shorter).

    A stream that answers a whole slice per read (a file, an upload) costs no copy.
    """
    while len(head) > UPLOAD_PART_BYTES:
        yield head[:UPLOAD_PART_BYTES]
        head = head[UPLOAD_PART_BYTES:]
    while True:
        chunks, got = ([head], len(head)) if head else ([], 0)
        head = b""
        while got < UPLOAD_PART_BYTES:
            chunk = stream.read(UPLOAD_PART_BYTES - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if not got:
            return
        yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if got < UPLOAD_PART_BYTES:
            return


def _create(*, stream: IO[bytes], name: str, suite: Suite | None, commit_sha: str, branch: str, build: str, triggered_by: Any) -> Run:
    """The queued run and its upload, once the fields and the report's head passed their checks (400 when
    not, with nothing written); the report is written slice by slice as it is read from ``stream``."""
    commit_sha, branch, build = _checked(commit_sha, branch, build)
    kind, head = _head_checked(stream)
    run = Run.objects.create(
        suite=suite or suite_default(),
        trigger=Run.Trigger.IMPORT,
        triggered_by=triggered_by,
        status=RunStatus.QUEUED,
        commit_sha=commit_sha,
        branch=branch,
        build=build,
    )
    upload = RunUpload.objects.create(run=run, kind=kind, name=name[:255], size=0)
    digest, mark = hashlib.sha256(), _RESULT_MARKS[kind]
    size = parts = estimate = 0
    tail = b""
    for data in _slices(head, stream):
        digest.update(data)
        # A mark cut by the slice boundary is counted once, from the tail of the slice before.
        estimate += (tail + data[: len(mark) - 1]).count(mark) + data.count(mark)
        tail = data[-(len(mark) - 1) :]
        _part_insert(upload_id=upload.pk, index=parts, data=data)
        parts, size = parts + 1, size + len(data)
    RunUpload.objects.filter(pk=upload.pk).update(size=size, parts=parts, estimate=estimate)
    run.upload_sha256 = digest.hexdigest()
    Run.objects.filter(pk=run.pk).update(upload_sha256=run.upload_sha256)
    return run


def _part_insert(*, upload_id: int, index: int, data: bytes) -> None:
    """Write one slice of an upload (bound as binary on PostgreSQL, not quoted as text)."""
    quote = connection.ops.quote_name
    table = quote(RunUploadPart._meta.db_table)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('upload_id')}, {quote('index')}, {quote('data')}) VALUES (%s, %s, %s)",  # noqa: S608  # nosec B608
            [upload_id, index, data],
        )


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
    run = _create(stream=stream, name=name, suite=suite, commit_sha=commit_sha, branch=branch, build=build, triggered_by=triggered_by)
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


def import_lease() -> timedelta:
    """How long an import's worker may go without a word before the reaper takes the import back: two
    leases of a shard, as the import reports only once per batch."""
    return timedelta(seconds=2 * settings.ATOM_BUGS_LEASE_SECONDS)


def _store_batches(run: Run, results: Iterable[ParsedResult], *, estimate: int = 0) -> float:
    """Store the results in batches of IMPORT_BATCH, unattached, showing progress and extending the
    import's lease; return their total duration.

    The lease is extended once half of it is spent, not after every batch: it lives on the row that
    holds the whole report, which SQLite writes whole (BUG-161).
    """
    stored, duration, batch = 0, 0.0, []
    renew_at = timezone.now() + import_lease() / 2
    for result in results:
        batch.append(result)
        duration += result.duration_seconds
        if len(batch) >= IMPORT_BATCH:
            stored += results_store(run=run, parsed=batch, attach=False)
            batch = []
            Run.objects.filter(pk=run.pk).update(done=stored, total=max(stored, estimate))
            if timezone.now() >= renew_at:
                renew_at = timezone.now() + import_lease() / 2
                RunUpload.objects.filter(run_id=run.pk).update(lease_expires_at=timezone.now() + import_lease())
    stored += results_store(run=run, parsed=batch, attach=False)
    Run.objects.filter(pk=run.pk).update(done=stored, total=stored)
    return duration


def run_import_parse(*, run_id: int) -> bool:
    """Read a queued import's upload into results, attach them and finalize the run (the worker's part).

    Safe to deliver twice: the import is claimed under a lease (as a shard is), so a finished run or one
    being read by a live worker is left alone, and a run whose worker died midway is read again from
    the start (results are upserted). A report broken further on ends the run as an error naming why,
    with its results removed and nothing attached. Returns whether the run was finalized.
    """
    claim = _import_claim(run_id)
    if claim is not True:
        if claim == "missing":
            _fail(run_id, "The uploaded report is missing.")
        return False
    upload = RunUpload.objects.get(run_id=run_id)
    run = Run.objects.select_related("suite").get(pk=run_id)
    try:
        duration = _store_batches(run, iter_report(run_upload_open(upload=upload)), estimate=upload.estimate)
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
def _import_claim(run_id: int) -> bool | str:
    """Take the import under a fresh lease: True, False (finished, or read by a live worker), or "missing"."""
    now = timezone.now()
    run = Run.objects.select_for_update().filter(pk=run_id, trigger=Run.Trigger.IMPORT).first()
    if run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return False
    upload = RunUpload.objects.filter(run_id=run_id).first()
    if upload is None:
        return "missing"
    if run.status == RunStatus.RUNNING and upload.lease_expires_at is not None and upload.lease_expires_at > now:
        return False
    RunUpload.objects.filter(run_id=run_id).update(attempts=upload.attempts + 1, lease_expires_at=now + import_lease())
    Run.objects.filter(pk=run_id).update(status=RunStatus.RUNNING, started_at=now)
    return True


def run_import_reap_stale() -> int:
    """Take back the imports of dead workers: queue them again, or end them after the last attempt.

    An import whose lease expired (its worker died reading it), or that sat queued far longer than a
    lease (its message was lost), is queued again; the claim makes a duplicate delivery harmless.
    Returns how many imports were queued again or ended.
    """
    from bugs.tasks import run_import_task

    now = timezone.now()
    lost = now - 5 * timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    stale = RunUpload.objects.filter(
        Q(run__status=RunStatus.RUNNING, lease_expires_at__lt=now)
        | Q(run__status=RunStatus.QUEUED, lease_expires_at__lt=lost)
        | Q(run__status=RunStatus.QUEUED, lease_expires_at__isnull=True, created_at__lt=lost),
        run__trigger=Run.Trigger.IMPORT,
    )
    handled = 0
    for upload in stale:
        if upload.attempts >= settings.ATOM_BUGS_MAX_ATTEMPTS:
            _fail(upload.run_id, "The worker was lost on every attempt to read the report; send it again.")
            handled += 1
            continue
        # Queued again, marked with when: it is taken back again only if still waiting five leases on.
        requeued = Run.objects.filter(pk=upload.run_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(status=RunStatus.QUEUED)
        if requeued and RunUpload.objects.filter(pk=upload.pk, attempts=upload.attempts).update(lease_expires_at=now):
            handled += 1
            run_id = upload.run_id
            transaction.on_commit(lambda run_id=run_id: run_import_task.delay(run_id))  # type: ignore[misc]
    return handled


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
    run = _create(stream=stream, name=name, suite=suite, commit_sha=commit_sha, branch=branch, build=build, triggered_by=triggered_by)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    try:
        duration = _store_batches(run, iter_report(run_upload_open(upload=RunUpload.objects.get(pk=run.pk))))
    except ReportFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    results_attach(run=run)
    run_finalize(run_id=run.pk, duration=duration)
    run.refresh_from_db()
    return run
