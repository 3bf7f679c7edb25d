"""Executing a shard: the claim under a lease, heartbeats, the pytest subprocess, and the reaper.

A shard is claimed under a lease that heartbeats extend; a second delivery of the same shard is a
no-op while the lease lives, and the reaper hands expired leases to another worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess  # nosec B404 - pytest runs from an argument list, never a shell
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from atom.errors import DomainError
from bugs import git, repos
from bugs.envs import PLUGIN_MODULE, runner_plugin_dir, suite_python
from bugs.models import (
    TERMINAL_RUN_STATUSES,
    Outcome,
    Result,
    Run,
    RunShard,
    RunStatus,
    Suite,
)
from bugs.parsers import ParsedResult, ReportFormatError
from bugs.report_log import parse_report_log
from bugs.repos import RepositoryError
from bugs.services.imports import run_import_reap_stale
from bugs.services.results import SHARD_DONE_STATUSES, results_not_run, results_store, run_finalize
from bugs.services.suites import suite_checkout
from bugs.uploads import parse_report
from bugs.validators import node_id_validate

logger = logging.getLogger("bugs.runs")


_POLL_SECONDS = 0.05
_PROGRESS_SECONDS = 1.0


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
            message = "Gave up after repeated worker losses; the run can be triggered again."
            _shard_end(shard=shard, status=RunShard.Status.ERROR, message=message)
            _shard_not_run(shard=shard, reason=message)
            return None
        shard.status = RunShard.Status.RUNNING
        shard.attempts += 1
        shard.claimed_by = worker
        shard.lease_expires_at = lease
        shard.save(update_fields=["status", "attempts", "claimed_by", "lease_expires_at"])
        run = shard.run
        if run.status == RunStatus.QUEUED and _at_a_commit(run):
            # The commit is resolved outside this transaction (a fetch can take a while): run_checkout.
            Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING, started_at=now)
            run.refresh_from_db()
        elif run.status == RunStatus.QUEUED:
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


def _shard_not_run(*, shard: RunShard, reason: str) -> None:
    """Store "not run: <reason>" errors for the shard's requested tests that have no result in its run."""
    if shard.node_ids:
        produced = Result.objects.filter(run_id=shard.run_id).values_list("node_id", flat=True)
        results_store(run=shard.run, parsed=results_not_run(requested=shard.node_ids, produced=produced.iterator(), reason=reason))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGKILL pytest if its worker dies, so a killed worker leaves no orphan writing files."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def pytest_env(suite: Suite) -> dict[str, str]:
    """A clean environment: the worker's own settings (database, broker, secrets) never leak into the suite.

    The runner's plugin comes as a standalone module (``bugs.envs.runner_plugin_dir``): neither Atom's code
    base nor Django is on the suite's path, whatever interpreter runs it.
    """
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ") if name in os.environ}
    env.update({str(k): str(v) for k, v in (suite.environment or {}).items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(runner_plugin_dir()), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pytest_argv(
    *, suite: Suite, junit: Path, report_log: Path, progress: Path, args_file: Path | None, python: str | None = None
) -> list[str]:
    """The pytest command line of a shard: suite arguments, the runner's outputs, then the tests."""
    argv = [python or sys.executable, "-m", "pytest", *[str(a) for a in suite.pytest_args or []]]
    argv += ["-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "-q"]
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


def _heartbeat(*, shard: RunShard, worker: str, done: int, total: int | None) -> bool:
    """Extend the lease and publish progress; False when the run was cancelled or the claim lost.

    ``total`` is None until pytest has collected; the shard then keeps the total it had (0, or what an
    earlier attempt collected).
    """
    lease = timezone.now() + timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    progress: dict[str, Any] = {"done": done} if total is None else {"done": done, "total": max(total, done)}
    kept = RunShard.objects.filter(pk=shard.pk, claimed_by=worker, attempts=shard.attempts, status=RunShard.Status.RUNNING).update(
        lease_expires_at=lease, **progress
    )
    _run_progress_refresh(run_id=shard.run_id)
    return bool(kept) and not Run.objects.filter(pk=shard.run_id, status=RunStatus.CANCELLED).exists()


def _run_progress_refresh(*, run_id: int) -> None:
    """Publish the run's done and total; the total only once every shard has collected, so it never grows.

    A shard with no total that is still queued or running has not collected yet (one that collected
    nothing finishes at once).
    """
    totals = RunShard.objects.filter(run_id=run_id).aggregate(
        done_sum=Sum("done"),
        total_sum=Sum("total"),
        collecting=Count("pk", filter=Q(total=0, status__in=(RunShard.Status.QUEUED, RunShard.Status.RUNNING))),
    )
    done, total = totals["done_sum"] or 0, 0 if totals["collecting"] else totals["total_sum"] or 0
    Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(done=min(done, total) if total else done, total=total)


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
    for left_over in (junit, report_log, progress):
        # An earlier database's run of the same id may have left its files here: pytest that crashes
        # before writing its own must not hand them in as this run's results.
        left_over.unlink(missing_ok=True)
    args_file = None
    if shard.node_ids:
        args_file = out_dir / "tests.txt"
        args_file.write_text("".join(f"{node_id_validate(n)}\n" for n in shard.node_ids))
    try:
        with run_checkout(run) as checkout:
            if not checkout.is_dir():
                raise RepositoryError(f"The suite's checkout {checkout} does not exist.")
            python = suite_python(suite, checkout)
            argv = pytest_argv(suite=suite, junit=junit, report_log=report_log, progress=progress, args_file=args_file, python=python)
            status, message, exit_code, current = _pytest_execute(
                argv=argv, checkout=checkout, suite=suite, shard=shard, worker=worker, progress=progress, out_dir=out_dir
            )
    except DomainError as exc:  # the repository, the commit or the suite's environment: the run ends with why
        if _shard_end(shard=shard, worker=worker, status=RunShard.Status.ERROR, message=exc.message):
            _shard_not_run(shard=shard, reason=exc.message)
        _finish(run_id=run.pk, finalize=finalize)
        return
    parsed = _results_from_files(report_log=report_log, junit=junit)
    if status == RunShard.Status.TIMED_OUT and current and current not in {p.node_id for p in parsed}:
        parsed.append(
            ParsedResult(
                node_id=current, outcome=Outcome.ERROR, attempts=1, message=f"Killed at the suite's time limit ({suite.timeout_seconds} s)."
            )
        )
    if status != RunShard.Status.CANCELLED:
        # What pytest was asked for and never reported: errors with the reason, so the run counts them.
        reason, _, detail = (message or f"pytest exited with code {exit_code} without running it.").partition("\n")
        parsed += results_not_run(requested=shard.node_ids, produced=(p.node_id for p in parsed), reason=reason.rstrip(":"), detail=detail)
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


def _at_a_commit(run: Run) -> bool:
    """Whether the run checks out a commit in a worktree of its own: a project with a repository always,
    Atom's own project when the run names a revision (else it runs in Atom's checkout as it is)."""
    return bool(run.suite.project.repository or run.revision)


@contextlib.contextmanager
def run_checkout(run: Run) -> Iterator[Path]:
    """Where the run's pytest runs: a private worktree of its commit (fetched first, resolved once per run
    and stored on it: every shard runs the same commit), removed afterwards; or the suite's checkout."""
    if not _at_a_commit(run):
        yield suite_checkout(run.suite)
        return
    project = run.suite.project
    repos.mirror_sync(project)
    if not run.commit_sha:
        revision = run.revision or project.default_branch
        sha = repos.commit_resolve(project, revision)
        branch = "" if git.is_sha(revision) and sha.startswith(git.sha_normalize(revision)) else revision
        Run.objects.filter(pk=run.pk, commit_sha="").update(commit_sha=sha, branch=branch)
        run.refresh_from_db(fields=["commit_sha", "branch"])
    with repos.run_worktree(project, run.commit_sha) as tree:
        yield tree


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
                collected = int(state["total"]) if "total" in state else None
                if not _heartbeat(shard=shard, worker=worker, done=int(state.get("done", 0)), total=collected):
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


# --- recovery: the reaper ---------------------------------------------------------------------------------


def run_reap_stale() -> int:
    """Give the shards of dead workers to live ones; end them after the last attempt.

    A shard whose lease expired (its worker stopped heartbeating) or that sat queued far longer than a
    lease (its message was lost) is queued again; the claim makes a duplicate delivery harmless. Runs
    whose shards are all finished but which were never finalized (a lost chord callback) are finalized.
    Imported reports are taken back the same way (bugs.services.imports.run_import_reap_stale).
    Returns how many shards and imports were handed out again or ended.
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
                _shard_not_run(shard=shard, reason="The worker was lost on every attempt.")
                run_finalize(run_id=shard.run_id)
            continue
        if RunShard.objects.filter(pk=shard.pk, status=shard.status, attempts=shard.attempts).update(enqueued_at=now):
            handled += 1
            shard_id = shard.pk
            transaction.on_commit(lambda shard_id=shard_id, single=single: run_shard_task.delay(shard_id, single))  # type: ignore[misc]
    for run_id in (
        # Runs of shards only: an import has none, and one being read must not be finalized half-way.
        Run.objects.filter(status=RunStatus.RUNNING, shards__isnull=False)
        .exclude(shards__status__in=(RunShard.Status.QUEUED, RunShard.Status.RUNNING))
        .distinct()
        .values_list("pk", flat=True)
    ):
        run_finalize(run_id=run_id)
    return handled + run_import_reap_stale()
