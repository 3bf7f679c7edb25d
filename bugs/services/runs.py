"""Regression runs: trigger, execute a shard as a pytest subprocess, ingest, finalize, apply the rules.

Safety rules every function here keeps:
- pytest runs from an argument list, never a shell; node ids are validated and passed through an
  argument file, so nothing from input can become an option or a command.
- A shard is claimed under a lease that heartbeats extend; a second delivery of the same shard is a
  no-op while the lease lives, and the reaper hands expired leases to another worker.
- Results are upserted on (run, node id) and attached with ON CONFLICT DO NOTHING, so a redelivered
  or rerun shard never duplicates a result or an attachment.
- Finalizing moves the run out of "running" with a conditional UPDATE; the rules apply in the same
  transaction, so a second finalize does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import socket
import subprocess  # nosec B404 - pytest runs from an argument list, never a shell
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from atom.errors import DomainError, NotFoundError, ServiceUnavailableError
from bugs import git
from bugs.models import (
    FAILING_OUTCOMES,
    TERMINAL_RUN_STATUSES,
    Bug,
    BugResult,
    BugStatus,
    Outcome,
    RegressionTest,
    Result,
    Run,
    RunShard,
    RunStatus,
    Suite,
)
from bugs.parsers import ParsedResult, ReportFormatError, clean_text, parse_report, parse_report_log
from bugs.services.bugs import Evidence, bug_transition, suite_checkout, suite_default

logger = logging.getLogger("bugs.runs")

# A node id is a relative path to a .py file, then ::-separated names and an optional [parameter id].
_NODE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.py$")
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\x00-\x1f\x7f]*\])?$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
SHARD_DONE_STATUSES = (RunShard.Status.DONE, RunShard.Status.ERROR, RunShard.Status.TIMED_OUT, RunShard.Status.CANCELLED)
_POLL_SECONDS = 0.05
_PROGRESS_SECONDS = 1.0


def node_id_validate(node_id: str) -> str:
    """Return the node id when it is a well-formed pytest node id, else raise a 400 DomainError."""
    value = node_id.strip() if isinstance(node_id, str) else ""
    path, _, rest = value.partition("::")
    parts = rest.split("::") if rest else []
    ok = (
        0 < len(value) <= 1000
        and _NODE_PATH.match(path) is not None
        and ".." not in path.split("/")
        and all(_NODE_NAME.match(part) for part in parts)
    )
    if not ok:
        raise DomainError("Not a valid pytest node id.", code="INVALID_NODE_ID", details={"node_id": str(node_id)[:200]})
    return value


def _worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _identity_is_dead(identity: str) -> bool:
    """Whether the claim holder ran on this machine and its process is gone (a killed worker)."""
    host, _, pid = identity.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# --- trigger ------------------------------------------------------------------------------------------


def _split(node_ids: list[str], shards: int) -> list[list[str]]:
    """Contiguous, balanced chunks: tests of one file stay together and share their fixtures."""
    size, extra = divmod(len(node_ids), shards)
    chunks, start = [], 0
    for index in range(shards):
        end = start + size + (1 if index < extra else 0)
        chunks.append(node_ids[start:end])
        start = end
    return chunks


@transaction.atomic
def run_trigger(
    *,
    suite: Suite | None = None,
    node_ids: Iterable[str] = (),
    bug_keys: Iterable[str] = (),
    shards: int = 1,
    trigger: str,
    triggered_by: Any = None,
    rerun_of: Run | None = None,
) -> Run:
    """Queue a run of the suite (by default Atom's own regression tests), split into shards.

    With bug keys, the run covers the tests linked to those bugs; with node ids, exactly those; with
    neither, the suite's own selection. It is enqueued only when the transaction commits.
    """
    suite = suite or suite_default()
    selected = [node_id_validate(n) for n in node_ids]
    keys = list(bug_keys)
    if keys:
        found = dict(Bug.objects.filter(key__in=keys).values_list("key", "pk"))
        missing = sorted(set(keys) - set(found))
        if missing:
            raise NotFoundError(f"Unknown bugs: {', '.join(missing)}.", details={"keys": missing[:50]})
        linked = RegressionTest.objects.filter(bug_id__in=found.values()).values_list("node_id", flat=True)
        selected.extend(linked)
        if not selected:
            raise DomainError("None of these bugs has a linked regression test.", code="NO_TESTS")
    selected = sorted(set(selected))
    if len(selected) > settings.ATOM_BUGS_MAX_NODE_IDS:
        raise DomainError(f"A run selects at most {settings.ATOM_BUGS_MAX_NODE_IDS} tests.", code="TOO_MANY_TESTS")
    if not 1 <= shards <= settings.ATOM_BUGS_MAX_SHARDS:
        raise DomainError(f"Shards must be between 1 and {settings.ATOM_BUGS_MAX_SHARDS}.", code="INVALID_SHARDS")
    shards = max(1, min(shards, len(selected))) if selected else 1
    run = Run.objects.create(
        suite=suite, trigger=trigger, triggered_by=triggered_by, rerun_of=rerun_of, node_ids=selected, total=len(selected)
    )
    now = timezone.now()
    RunShard.objects.bulk_create(
        RunShard(run=run, index=i, node_ids=chunk, total=len(chunk), enqueued_at=now)
        for i, chunk in enumerate(_split(selected, shards) if selected else [[]])
    )
    transaction.on_commit(lambda: run_enqueue(run_id=run.pk), robust=False)
    return run


def run_trigger_scheduled() -> Run:
    """The periodic run of the default suite: at most one scheduled run queued or running at a time.

    The beat message is acknowledged late, so a lost worker gets it again, and a slow run may still be
    going at the next tick; either way the scheduled run in flight is returned instead of another one.
    The suite row is locked so two deliveries at once cannot both queue.
    """
    with transaction.atomic():
        suite = Suite.objects.select_for_update().get(pk=suite_default().pk)
        in_flight = (
            Run.objects.filter(suite=suite, trigger=Run.Trigger.SCHEDULE, status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
            .order_by("pk")
            .first()
        )
        return in_flight or run_trigger(suite=suite, trigger=Run.Trigger.SCHEDULE)


def run_enqueue(*, run_id: int) -> None:
    """Send the run's shards to the workers: one task, or a chord whose callback merges the shards.

    When the broker is down the run is ended as an error (nothing half-queued is left behind) and a
    503 tells the caller to try again.
    """
    from celery import chord, group
    from kombu.exceptions import OperationalError

    from atom.celery import task_send
    from bugs.tasks import run_finalize_task, run_shard_task

    shard_ids = list(RunShard.objects.filter(run_id=run_id, status=RunShard.Status.QUEUED).values_list("pk", flat=True))
    try:
        if len(shard_ids) == 1:
            run_shard_task.delay(shard_ids[0], True)
        elif shard_ids:
            # interval: how often the chord's unlock polls backends without native chord support.
            merged = chord(group(run_shard_task.si(pk, False) for pk in shard_ids), run_finalize_task.si(run_id))
            task_send(lambda: merged.apply_async(interval=0.2), what=f"the shards of run {run_id}")
    except OperationalError as exc:
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.ERROR, error_message="The task queue was unavailable; trigger the run again.", finished_at=timezone.now()
        )
        raise ServiceUnavailableError("The task queue is unavailable; the run was not started.") from exc


# --- execution ----------------------------------------------------------------------------------------


def _shard_claim(*, shard_id: int, worker: str) -> RunShard | None:
    """Take the shard under a fresh lease, or None when it is finished or alive elsewhere."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    with transaction.atomic():
        shard = RunShard.objects.select_for_update().select_related("run__suite").filter(pk=shard_id).first()
        if shard is None or shard.status in SHARD_DONE_STATUSES or shard.run.status in TERMINAL_RUN_STATUSES:
            return None
        if shard.status == RunShard.Status.RUNNING:
            lease_alive = shard.lease_expires_at is not None and shard.lease_expires_at > now
            if lease_alive and not _identity_is_dead(shard.claimed_by):
                return None
        if shard.attempts >= settings.ATOM_BUGS_MAX_ATTEMPTS:
            _shard_end(
                shard=shard, status=RunShard.Status.ERROR, message="Gave up after repeated worker losses; the run can be triggered again."
            )
            return None
        shard.status = RunShard.Status.RUNNING
        shard.attempts += 1
        shard.claimed_by = worker
        shard.lease_expires_at = lease
        shard.save(update_fields=["status", "attempts", "claimed_by", "lease_expires_at"])
        run = shard.run
        if run.status == RunStatus.QUEUED:
            head = git.head_of(suite_checkout(run.suite))
            Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING,
                started_at=now,
                commit_sha=head.commit_sha if head else "",
                branch=head.branch if head else "",
            )
            run.refresh_from_db()
        return shard


def _shard_end(*, shard: RunShard, status: str, message: str = "", exit_code: int | None = None, worker: str | None = None) -> bool:
    """Finish the shard unless another worker has taken it over since (fencing on the claim)."""
    query = RunShard.objects.filter(pk=shard.pk, status=RunShard.Status.RUNNING if worker else shard.status)
    if worker:
        query = query.filter(claimed_by=worker, attempts=shard.attempts)
    return bool(
        query.update(status=status, error_message=message[:5000], exit_code=exit_code, finished_at=timezone.now(), lease_expires_at=None)
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGKILL pytest if its worker dies, so a killed worker leaves no orphan writing files."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def pytest_env(suite: Suite) -> dict[str, str]:
    """A clean environment: the worker's own settings (database, broker, secrets) never leak into the suite."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ") if name in os.environ}
    env.update({str(k): str(v) for k, v in (suite.environment or {}).items()})
    # The runner's plugin is loaded from Atom's code base, whatever project the suite is.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(settings.BASE_DIR), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pytest_argv(*, suite: Suite, junit: Path, report_log: Path, progress: Path, args_file: Path | None) -> list[str]:
    """The pytest command line of a shard: suite arguments, the runner's outputs, then the tests."""
    argv = [sys.executable, "-m", "pytest", *[str(a) for a in suite.pytest_args or []]]
    argv += ["-p", "bugs.pytest_plugin", "-p", "no:cacheprovider", "-q"]
    if (suite.environment or {}).get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        # A suite may switch plugin autoloading off to start faster; the report log must still load.
        argv += ["-p", "pytest_reportlog.plugin"]
    argv += [f"--junitxml={junit}", f"--report-log={report_log}", f"--atom-progress={progress}"]
    if args_file is not None:
        argv.append(f"@{args_file}")
    return argv


def _read_progress(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _heartbeat(*, shard: RunShard, worker: str, done: int, total: int) -> bool:
    """Extend the lease and publish progress; False when the run was cancelled or the claim lost."""
    lease = timezone.now() + timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    kept = RunShard.objects.filter(pk=shard.pk, claimed_by=worker, attempts=shard.attempts, status=RunShard.Status.RUNNING).update(
        lease_expires_at=lease, done=done, total=max(total, done)
    )
    _run_progress_refresh(run_id=shard.run_id)
    return bool(kept) and not Run.objects.filter(pk=shard.run_id, status=RunStatus.CANCELLED).exists()


def _run_progress_refresh(*, run_id: int) -> None:
    totals = RunShard.objects.filter(run_id=run_id).aggregate(done=Sum("done"), total=Sum("total"))
    total = totals["total"] or 0
    Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(done=min(totals["done"] or 0, total), total=total)


def run_shard_execute(*, shard_id: int, finalize: bool) -> None:
    """Run one shard's tests with pytest in the suite's checkout and store its results.

    Safe to call twice for the same shard: the claim decides who runs it. On the time limit the whole
    pytest process group is killed and the results written so far (report log lines) are kept.
    """
    worker = _worker_identity()
    shard = _shard_claim(shard_id=shard_id, worker=worker)
    if shard is None:
        if finalize:
            run_id = RunShard.objects.filter(pk=shard_id).values_list("run_id", flat=True).first()
            if run_id is not None:
                run_finalize(run_id=run_id)
        return
    run = shard.run
    suite = run.suite
    out_dir = Path(settings.ATOM_BUGS_ARTIFACTS_DIR) / str(run.pk) / f"shard{shard.index}-attempt{shard.attempts}"
    out_dir.mkdir(parents=True, exist_ok=True)
    junit, report_log, progress = out_dir / "junit.xml", out_dir / "report.jsonl", out_dir / "progress.json"
    args_file = None
    if shard.node_ids:
        args_file = out_dir / "tests.txt"
        args_file.write_text("".join(f"{node_id_validate(n)}\n" for n in shard.node_ids))
    argv = pytest_argv(suite=suite, junit=junit, report_log=report_log, progress=progress, args_file=args_file)
    checkout = suite_checkout(suite)
    if not checkout.is_dir():
        _shard_end(shard=shard, worker=worker, status=RunShard.Status.ERROR, message=f"The suite's checkout {checkout} does not exist.")
        _finish(run_id=run.pk, finalize=finalize)
        return
    status, message, exit_code, current = _pytest_execute(
        argv=argv, checkout=checkout, suite=suite, shard=shard, worker=worker, progress=progress, out_dir=out_dir
    )
    parsed = _results_from_files(report_log=report_log, junit=junit)
    if status == RunShard.Status.TIMED_OUT and current and current not in {p.node_id for p in parsed}:
        parsed.append(
            ParsedResult(
                node_id=current, outcome=Outcome.ERROR, attempts=1, message=f"Killed at the suite's time limit ({suite.timeout_seconds} s)."
            )
        )
    try:
        with transaction.atomic():
            results_store(run=run, parsed=parsed)
            done = len(parsed)
            collected = int(_read_progress(progress).get("total", 0))
            RunShard.objects.filter(pk=shard.pk, claimed_by=worker, attempts=shard.attempts).update(
                done=done, total=max(done, collected, shard.total)
            )
            _shard_end(shard=shard, worker=worker, status=status, message=message, exit_code=exit_code)
    except DataError as exc:
        # Results the database refuses would fail the same way on every redelivery: end the shard now.
        logger.exception("Storing the results of shard %s failed", shard.pk)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        message = f"The database refused the results: {reason}"
        _shard_end(shard=shard, worker=worker, status=RunShard.Status.ERROR, message=message, exit_code=exit_code)
    _finish(run_id=run.pk, finalize=finalize)


def _finish(*, run_id: int, finalize: bool) -> None:
    _run_progress_refresh(run_id=run_id)
    if finalize:
        run_finalize(run_id=run_id)


def _pytest_execute(
    *, argv: list[str], checkout: Path, suite: Suite, shard: RunShard, worker: str, progress: Path, out_dir: Path
) -> tuple[str, str, int | None, str]:
    """Run pytest to completion, cancellation or the time limit; return (status, message, exit code, current test)."""
    log_path = out_dir / "output.log"
    deadline = time.monotonic() + suite.timeout_seconds
    with open(log_path, "wb") as output:
        process = subprocess.Popen(  # noqa: S603  # nosec B603 - argument list, no shell, validated node ids
            argv,
            cwd=checkout,
            env=pytest_env(suite),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        last_beat = 0.0
        stop: str | None = None
        while process.poll() is None:
            time.sleep(_POLL_SECONDS)
            now = time.monotonic()
            if now >= deadline:
                stop = RunShard.Status.TIMED_OUT
            elif now - last_beat >= _PROGRESS_SECONDS:
                last_beat = now
                state = _read_progress(progress)
                if not _heartbeat(shard=shard, worker=worker, done=int(state.get("done", 0)), total=int(state.get("total", shard.total))):
                    stop = RunShard.Status.CANCELLED
            if stop:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
    current = str(_read_progress(progress).get("current", ""))
    if stop == RunShard.Status.TIMED_OUT:
        return stop, f"pytest was killed at the suite's time limit of {suite.timeout_seconds} s.", None, current
    if stop == RunShard.Status.CANCELLED:
        return stop, "The run was cancelled.", None, current
    code = process.returncode
    if code in (0, 1, 5):  # all passed, some failed, nothing collected
        return RunShard.Status.DONE, "", code, ""
    tail = log_path.read_bytes()[-3000:].decode("utf-8", "replace")
    return RunShard.Status.ERROR, f"pytest exited with code {code}:\n{tail}", code, ""


def _results_from_files(*, report_log: Path, junit: Path) -> list[ParsedResult]:
    """The report log first (it keeps reruns and survives a kill); JUnit XML when there is no log."""
    if report_log.exists():
        with open(report_log, "rb") as lines, contextlib.suppress(ReportFormatError):
            return parse_report_log(lines)
    if junit.exists():
        with open(junit, "rb") as stream, contextlib.suppress(ReportFormatError):
            return parse_report(stream)
    return []


# --- storage ------------------------------------------------------------------------------------------


def _clean_node_id(node_id: str) -> str:
    return clean_text(node_id)[:1000]


def results_store(*, run: Run, parsed: list[ParsedResult]) -> None:
    """Upsert the results of a run and attach each to every bug linking its node id.

    A fixed number of statements whatever the size: the rows travel as one JSON parameter, so a
    55,000-case report costs the same three queries as a ten-case one.
    """
    rows = {}
    for p in parsed:
        node_id = _clean_node_id(p.node_id)
        if node_id:
            rows[node_id] = [
                node_id,
                p.outcome,
                float(p.duration_seconds),
                int(min(p.attempts, 32767)),
                bool(p.is_flaky),
                clean_text(p.message),
                clean_text(p.traceback),
            ]
    if not rows:
        return
    payload = json.dumps(list(rows.values()))
    result_table = connection.ops.quote_name(Result._meta.db_table)
    link_table = connection.ops.quote_name(RegressionTest._meta.db_table)
    attach_table = connection.ops.quote_name(BugResult._meta.db_table)
    if connection.vendor == "postgresql":
        source = (
            "SELECT %s, r->>0, r->>1, (r->>2)::float, (r->>3)::int, (r->>4)::boolean, r->>5, r->>6 "
            "FROM jsonb_array_elements(%s::jsonb) AS r WHERE true"
        )
    else:
        source = (
            "SELECT %s, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
            "json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]') "
            "FROM json_each(%s) WHERE true"
        )
    # Table names come from model metadata, never from input; every value is a bound parameter.
    columns = "run_id, node_id, outcome, duration_seconds, attempts, is_flaky, message, traceback"
    updates = ", ".join(f"{c} = excluded.{c}" for c in ("outcome", "duration_seconds", "attempts", "is_flaky", "message", "traceback"))
    upsert = f"INSERT INTO {result_table} ({columns}) {source} ON CONFLICT (run_id, node_id) DO UPDATE SET {updates}"  # nosec B608
    attach = f"INSERT INTO {attach_table} (bug_id, result_id) SELECT rt.bug_id, r.id FROM {result_table} r "  # noqa: S608  # nosec B608
    attach += f"JOIN {link_table} rt ON rt.node_id = r.node_id WHERE r.run_id = %s ON CONFLICT (bug_id, result_id) DO NOTHING"  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(upsert, [run.pk, payload])
        cursor.execute(attach, [run.pk])


# --- import -------------------------------------------------------------------------------------------


@transaction.atomic
def run_import(*, stream: IO[bytes], suite: Suite | None = None, commit_sha: str = "", branch: str = "", triggered_by: Any = None) -> Run:
    """Create a finished run from an external CI's JUnit XML or pytest report log, exactly as a local run.

    Hostile XML (DTDs, entities, external references) and anything that is not a report is refused
    with a 400; nothing is written then.
    """
    commit_sha = commit_sha.strip()
    branch = branch.strip()
    if commit_sha and not git.is_sha(commit_sha):
        raise DomainError("commit_sha must be a commit hash.", code="INVALID_COMMIT")
    if branch and not _BRANCH.match(branch):
        raise DomainError("branch is not a valid branch name.", code="INVALID_BRANCH")
    try:
        parsed = parse_report(stream)
    except ReportFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    now = timezone.now()
    run = Run.objects.create(
        suite=suite or suite_default(),
        trigger=Run.Trigger.IMPORT,
        triggered_by=triggered_by,
        status=RunStatus.RUNNING,
        commit_sha=commit_sha.lower(),
        branch=branch,
        started_at=now,
        total=len(parsed),
        done=len(parsed),
    )
    results_store(run=run, parsed=parsed)
    run_finalize(run_id=run.pk, duration=sum(p.duration_seconds for p in parsed))
    run.refresh_from_db()
    return run


# --- finalize and the status rules ---------------------------------------------------------------------


@transaction.atomic
def run_finalize(*, run_id: int, duration: float | None = None) -> bool:
    """Merge the shards into the run's final status and counts, then apply the status rules once.

    Returns False when the run is already final or a shard is still working (nothing changed).
    """
    run = Run.objects.select_for_update().select_related("suite").filter(pk=run_id).first()
    if run is None or run.status in TERMINAL_RUN_STATUSES:
        return False
    shard_statuses = list(RunShard.objects.filter(run=run).values_list("status", "error_message"))
    if any(status not in SHARD_DONE_STATUSES for status, _ in shard_statuses):
        return False
    counts = Result.objects.filter(run=run).aggregate(
        total=Count("pk"),
        passed=Count("pk", filter=Q(outcome__in=(Outcome.PASSED, Outcome.XPASSED))),
        failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
        errors=Count("pk", filter=Q(outcome=Outcome.ERROR)),
        skipped=Count("pk", filter=Q(outcome__in=(Outcome.SKIPPED, Outcome.XFAILED))),
    )
    statuses = {status for status, _ in shard_statuses}
    if RunShard.Status.CANCELLED in statuses:
        final = RunStatus.CANCELLED
    elif RunShard.Status.TIMED_OUT in statuses:
        final = RunStatus.TIMED_OUT
    elif RunShard.Status.ERROR in statuses:
        final = RunStatus.ERROR
    elif counts["failed"] or counts["errors"]:
        final = RunStatus.FAILED
    else:
        final = RunStatus.PASSED
    now = timezone.now()
    run.status = final
    run.finished_at = now
    # An interrupted run keeps the number of tests it meant to run, so "done / total" shows how far it got.
    interrupted = final in (RunStatus.TIMED_OUT, RunStatus.CANCELLED, RunStatus.ERROR)
    run.total = max(counts["total"], run.total) if interrupted else counts["total"]
    run.done = counts["total"]
    run.passed, run.failed, run.errors, run.skipped = counts["passed"], counts["failed"], counts["errors"], counts["skipped"]
    run.duration_seconds = duration if duration is not None else ((now - run.started_at).total_seconds() if run.started_at else None)
    run.error_message = "\n".join(message for _, message in shard_statuses if message)[:10000]
    run.save()
    run_apply_rules(run=run)
    return True


def _flaky_node_ids(run: Run) -> set[str]:
    """Linked tests of this run that both passed and failed on its commit (in this run or another).

    Only tests linked to a bug are looked at: flakiness is flagged on the links, and a 55,000-case
    import must not group every result of the commit to find the few hundred that matter.
    """
    ran_linked = Result.objects.filter(run=run, node_id__in=RegressionTest.objects.values("node_id")).values("node_id")
    flaky = set(Result.objects.filter(run=run, is_flaky=True, node_id__in=ran_linked).values_list("node_id", flat=True))
    if run.commit_sha:
        mixed = (
            Result.objects.filter(run__in=Run.objects.filter(commit_sha=run.commit_sha).values("pk"), node_id__in=ran_linked)
            .values("node_id")
            .annotate(
                passes=Count("pk", filter=Q(outcome=Outcome.PASSED)),
                fails=Count("pk", filter=Q(outcome__in=FAILING_OUTCOMES)),
            )
            .filter(passes__gt=0, fails__gt=0)
            .values_list("node_id", flat=True)
        )
        flaky.update(mixed)
    return flaky


def run_apply_rules(*, run: Run) -> None:
    """The automatic part of SPEC section 6, applied to the bugs whose tests ran in this run.

    - Every linked test keeps its latest result; a test that passed and failed on one commit is flagged
      flaky and moves no bug.
    - fixed → resolved when a linked test passed here and the run's commit contains the fix commit.
    - resolved → reopened (flagged as a regression) when a linked test fails again on a commit that
      contains the fix, once a rerun confirms it: a rerun inside the run (attempts > 1) or a
      confirmation run queued here.
    """
    RegressionTest.objects.filter(node_id__in=Result.objects.filter(run=run).values("node_id")).update(
        last_result=Subquery(Result.objects.filter(run=run, node_id=OuterRef("node_id")).values("pk")[:1])
    )
    flaky = _flaky_node_ids(run)
    if flaky:
        RegressionTest.objects.filter(node_id__in=flaky).update(is_flaky=True, flaky_commit=run.commit_sha)
    attached: dict[int, list[Result]] = defaultdict(list)
    for link in BugResult.objects.filter(result__run=run, bug__status__in=(BugStatus.FIXED, BugStatus.RESOLVED)).select_related("result"):
        attached[link.bug_id].append(link.result)
    if not attached:
        return
    repo = suite_checkout(run.suite)
    repo_or_none = repo if repo.is_dir() else None
    to_confirm: set[str] = set()
    confirmed_by = _confirmed_failures(run)
    for bug in Bug.objects.filter(pk__in=attached):
        results = [r for r in attached[bug.pk] if r.node_id not in flaky]
        failing = [r for r in results if r.outcome in FAILING_OUTCOMES]
        passing = [r for r in results if r.outcome == Outcome.PASSED]
        contains_fix = git.contains(repo_or_none, commit=run.commit_sha, ancestor=bug.fix_commit)
        if not contains_fix:
            continue
        if bug.status == BugStatus.FIXED and passing and not failing:
            bug_transition(
                bug=bug,
                to_status=BugStatus.RESOLVED,
                reason=f"{passing[0].node_id} passed on run #{run.pk} at {run.commit_sha[:12]}, which contains the fix.",
                automatic=True,
                run=run,
                evidence=Evidence(result=passing[0], run=run),
            )
        elif bug.status == BugStatus.RESOLVED and failing:
            confirmed = [r for r in failing if r.attempts > 1 or r.node_id in confirmed_by]
            if confirmed:
                reopened = bug_transition(
                    bug=bug,
                    to_status=BugStatus.REOPENED,
                    reason=(
                        f"Regression: {confirmed[0].node_id} failed again on run #{run.pk} at {run.commit_sha[:12]}, confirmed by a rerun."
                    ),
                    automatic=True,
                    run=run,
                )
                Bug.objects.filter(pk=reopened.pk).update(is_regression=True)
            else:
                to_confirm.update(r.node_id for r in failing)
    if to_confirm and run.trigger not in (Run.Trigger.IMPORT, Run.Trigger.RERUN) and not run.reruns.exists():
        run_trigger(suite=run.suite, node_ids=sorted(to_confirm), trigger=Run.Trigger.RERUN, rerun_of=run)


def _confirmed_failures(run: Run) -> set[str]:
    """For a confirmation rerun: the tests that failed in the run it reruns too."""
    if run.trigger != Run.Trigger.RERUN or run.rerun_of_id is None:
        return set()
    return set(Result.objects.filter(run_id=run.rerun_of_id, outcome__in=FAILING_OUTCOMES).values_list("node_id", flat=True))


# --- recovery and cancellation ------------------------------------------------------------------------


def run_reap_stale() -> int:
    """Give the shards of dead workers to live ones; end them after the last attempt.

    A shard whose lease expired (its worker stopped heartbeating) or that sat queued far longer than a
    lease (its message was lost) is queued again; the claim makes a duplicate delivery harmless. Runs
    whose shards are all finished but which were never finalized (a lost chord callback) are finalized.
    Returns how many shards were handed out again or ended.
    """
    from bugs.tasks import run_shard_task

    now = timezone.now()
    lease = timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    stale = RunShard.objects.filter(
        Q(status=RunShard.Status.RUNNING, lease_expires_at__lt=now) | Q(status=RunShard.Status.QUEUED, enqueued_at__lt=now - 5 * lease),
        run__status__in=(RunStatus.QUEUED, RunStatus.RUNNING),
    ).select_related("run")
    handled = 0
    for shard in stale:
        single = not RunShard.objects.filter(run_id=shard.run_id).exclude(pk=shard.pk).exists()
        if shard.attempts >= settings.ATOM_BUGS_MAX_ATTEMPTS:
            ended = RunShard.objects.filter(pk=shard.pk, status=shard.status, attempts=shard.attempts).update(
                status=RunShard.Status.ERROR,
                error_message="The worker was lost on every attempt; the run can be triggered again.",
                finished_at=now,
                lease_expires_at=None,
            )
            if ended:
                handled += 1
                run_finalize(run_id=shard.run_id)
            continue
        if RunShard.objects.filter(pk=shard.pk, status=shard.status, attempts=shard.attempts).update(enqueued_at=now):
            handled += 1
            shard_id = shard.pk
            transaction.on_commit(lambda shard_id=shard_id, single=single: run_shard_task.delay(shard_id, single))  # type: ignore[misc]
    for run_id in (
        Run.objects.filter(status=RunStatus.RUNNING)
        .exclude(shards__status__in=(RunShard.Status.QUEUED, RunShard.Status.RUNNING))
        .values_list("pk", flat=True)
    ):
        run_finalize(run_id=run_id)
    return handled


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Cancel a queued or running run; a running shard notices at its next heartbeat and stops pytest."""
    if run.status in TERMINAL_RUN_STATUSES:
        raise DomainError("The run has already finished.", code="RUN_FINISHED", status=409)
    now = timezone.now()
    RunShard.objects.filter(run=run, status=RunShard.Status.QUEUED).update(status=RunShard.Status.CANCELLED, finished_at=now)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED, finished_at=now)
    run.refresh_from_db()
    return run
