"""Results: storage, import from an external CI, and finalizing a run.

Results are upserted on (run, node id) and attached with ON CONFLICT DO NOTHING, so a redelivered or
rerun shard never duplicates a result or an attachment. Finalizing moves the run out of "running" with a
conditional UPDATE and applies the status rules in the same transaction, so a second finalize does nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from atom.errors import DomainError
from bugs import git
from bugs.models import (
    TERMINAL_RUN_STATUSES,
    BugResult,
    Outcome,
    RegressionTest,
    Result,
    Run,
    RunShard,
    RunStatus,
    Suite,
)
from bugs.parsers import ParsedResult, ReportFormatError, clean_text
from bugs.services.runs import run_trigger
from bugs.services.status import run_apply_rules
from bugs.services.suites import suite_default
from bugs.uploads import parse_report

_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
SHARD_DONE_STATUSES = (RunShard.Status.DONE, RunShard.Status.ERROR, RunShard.Status.TIMED_OUT, RunShard.Status.CANCELLED)
# --- storage ------------------------------------------------------------------------------------------


NODE_ID_MAX = 1000


def _clean_node_id(node_id: str) -> str:
    """The node id as stored: a longer one keeps its head and a hash of the whole, so two never merge."""
    node_id = clean_text(node_id)
    if len(node_id) <= NODE_ID_MAX:
        return node_id
    return node_id[: NODE_ID_MAX - 17] + "#" + hashlib.sha256(node_id.encode()).hexdigest()[:16]


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
    to_confirm = run_apply_rules(run=run)
    if to_confirm:
        run_trigger(suite=run.suite, node_ids=to_confirm, trigger=Run.Trigger.RERUN, rerun_of=run)
    return True
