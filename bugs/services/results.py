"""Results: storage and finalizing a run (imports from an external CI: bugs.services.imports).

Results are upserted on (run, node id) and attached with ON CONFLICT DO NOTHING, so a redelivered or
rerun shard never duplicates a result or an attachment. Finalizing moves the run out of "running" with a
conditional UPDATE and applies the status rules in the same transaction, so a second finalize does nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from bugs.models import (
    TERMINAL_RUN_STATUSES,
    BugResult,
    Outcome,
    Result,
    Run,
    RunShard,
    RunStatus,
)
from bugs.parsers import ParsedResult, clean_text
from bugs.services.links import pairs_write, run_link_matches
from bugs.services.runs import run_trigger
from bugs.services.status import run_apply_rules

SHARD_DONE_STATUSES = (RunShard.Status.DONE, RunShard.Status.ERROR, RunShard.Status.TIMED_OUT, RunShard.Status.CANCELLED)
# The message of a requested test that produced no result, before the reason (results_not_run).
NOT_RUN = "not run: "
# --- storage ------------------------------------------------------------------------------------------


NODE_ID_MAX = 1000


def _clean_node_id(node_id: str) -> str:
    """The node id as stored: a longer one keeps its head and a hash of the whole, so two never merge."""
    node_id = clean_text(node_id)
    if len(node_id) <= NODE_ID_MAX:
        return node_id
    return node_id[: NODE_ID_MAX - 17] + "#" + hashlib.sha256(node_id.encode()).hexdigest()[:16]


# The stored columns after run_id, in the order of a row, with each one's SQL type.
_COLUMNS = (
    ("node_id", "text"),
    ("outcome", "text"),
    ("duration_seconds", "float"),
    ("attempts", "int"),
    ("is_flaky", "boolean"),
    ("message", "text"),
    ("traceback", "text"),
    ("kind", "text"),
    ("suite", "text"),
    ("scope", "text"),
    ("classname", "text"),
    ("name", "text"),
    ("file", "text"),
    ("line", "int"),
    ("ordinal", "int"),
    ("identity", "text"),
)


def _identity(p: ParsedResult) -> str:
    """The node id without the ``[#n]`` that numbers a repeat: what a bug links to get every repeat."""
    suffix = f"[#{p.ordinal}]"
    return p.node_id[: -len(suffix)] if p.ordinal > 1 and p.node_id.endswith(suffix) else p.node_id


def _row(run_id: int, node_id: str, p: ParsedResult) -> tuple[Any, ...]:
    def short(text: str) -> str:
        return clean_text(text)[:NODE_ID_MAX]

    return (
        run_id,
        node_id,
        p.outcome,
        float(p.duration_seconds),
        int(min(p.attempts, 32767)),
        bool(p.is_flaky),
        clean_text(p.message),
        clean_text(p.traceback),
        p.kind,
        short(p.suite),
        short(p.scope),
        short(p.classname),
        short(p.name),
        short(p.file),
        p.line,
        max(1, int(p.ordinal)),
        _clean_node_id(_identity(p)),
    )


def results_store(*, run: Run, parsed: Iterable[ParsedResult], attach: bool = True) -> int:
    """Upsert the results of a run and attach each to every bug linking its node id or its identity.

    A fixed number of statements whatever the size: the rows travel with the driver's bulk path (COPY
    into a scratch table on PostgreSQL, one ``executemany`` on SQLite), so a 55,000-case report costs
    the same few queries as a ten-case one. With ``attach=False`` the results are only stored (an
    import attaches once its whole file is read: ``results_attach``). Returns how many results were stored.
    """
    rows = {}
    for p in parsed:
        node_id = _clean_node_id(p.node_id)
        if node_id:
            rows[node_id] = _row(run.pk, node_id, p)
    if not rows:
        return 0
    with transaction.atomic():
        _upsert(list(rows.values()))
    if attach:
        results_attach(run=run)
    return len(rows)


_INCOMING = "bugs_result_incoming"


def _upsert(rows: list[tuple[Any, ...]]) -> None:
    """INSERT the rows, each replacing the result of its run with the same node id (a rerun shard's, a
    redelivered import's). Table names come from model metadata, never from input; values travel as data."""
    quote = connection.ops.quote_name
    columns = ", ".join(["run_id", *(name for name, _ in _COLUMNS)])
    updates = ", ".join(f"{name} = excluded.{name}" for name, _ in _COLUMNS[1:])
    conflict = f"ON CONFLICT (run_id, node_id) DO UPDATE SET {updates}"  # nosec B608 - column names of Atom's
    head = f"INSERT INTO {quote(Result._meta.db_table)} ({columns})"  # nosec B608
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(f"{head} VALUES ({', '.join(['%s'] * (len(_COLUMNS) + 1))}) {conflict}", rows)
            return
        # Mostly the rows are new (a first import, a shard's first results): COPY them straight in. COPY
        # cannot resolve a conflict, so a batch that meets stored results (an import read again, a shard
        # run again) has its COPY undone alone and goes the upsert's way (P10 at 300 k cases: 7.8 -> 6.4 s).
        try:
            with (
                transaction.atomic(),
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {quote(Result._meta.db_table)} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        except IntegrityError:
            pass
        # The upsert: the rows are copied into a scratch table of this connection, then upserted from it
        # in one statement.
        kinds = ", ".join(f"{name} {'double precision' if kind == 'float' else kind}" for name, kind in _COLUMNS)
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INCOMING} (run_id bigint, {kinds})")
        with cursor.cursor.copy(f"COPY {_INCOMING} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"{head} SELECT {columns} FROM {_INCOMING} WHERE true {conflict}")  # noqa: S608  # nosec B608
        cursor.execute(f"TRUNCATE {_INCOMING}")


def results_attach(*, run: Run) -> None:
    """Attach the run's results to every bug linking a result's node id or its identity (all its repeats)."""
    table = connection.ops.quote_name(BugResult._meta.db_table)
    pairs = sorted({(match.bug_id, match.result_id) for match in run_link_matches(run=run)})
    pairs_write(
        postgresql=f"INSERT INTO {table} (bug_id, result_id) SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "  # noqa: S608  # nosec B608
        "ON CONFLICT (bug_id, result_id) DO NOTHING",
        sqlite=f"INSERT INTO {table} (bug_id, result_id) VALUES (%s, %s) ON CONFLICT (bug_id, result_id) DO NOTHING",  # noqa: S608  # nosec B608
        pairs=pairs,
    )


# Where a node id can be cut into the node ids above it: a folder, a file, a class, a test's parameters.
_NODE_BOUNDARY = re.compile(r"::|\[|/")


def results_not_run(*, requested: Iterable[str], produced: Iterable[str], reason: str, detail: str = "") -> list[ParsedResult]:
    """An error result, "not run: <reason>", for each requested node id that no produced result falls under.

    pytest that crashes, is killed at the time limit or never starts leaves the tests it was asked for
    without a result; stored as errors, they count in the run and show on their bugs' pages. A
    requested file or parametrized test is covered by any result below it.
    """
    covered: set[str] = set()
    for node_id in produced:
        covered.add(node_id)
        covered.update(node_id[: boundary.start()] for boundary in _NODE_BOUNDARY.finditer(node_id))
    return [
        ParsedResult(node_id=node_id, outcome=Outcome.ERROR, attempts=0, message=f"{NOT_RUN}{reason}", traceback=detail)
        for node_id in dict.fromkeys(requested)
        if node_id not in covered and node_id.rstrip("/") not in covered
    ]


# --- finalize and the status rules ---------------------------------------------------------------------


@transaction.atomic
def run_finalize(*, run_id: int, duration: float | None = None) -> bool:
    """Merge the shards into the run's final status and counts, then apply the status rules once.

    Returns False when the run is already final or a shard is still working (nothing changed).
    """
    run = Run.objects.select_for_update().select_related("suite").filter(pk=run_id).first()
    if run is None or run.status in TERMINAL_RUN_STATUSES:
        return False
    shard_statuses = list(RunShard.objects.filter(run=run).order_by("index").values_list("status", "error_message", "index"))
    if any(status not in SHARD_DONE_STATUSES for status, _, _ in shard_statuses):
        return False
    counts = Result.objects.filter(run=run).aggregate(
        total=Count("pk"),
        passed=Count("pk", filter=Q(outcome__in=(Outcome.PASSED, Outcome.XPASSED))),
        failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
        errors=Count("pk", filter=Q(outcome=Outcome.ERROR)),
        skipped=Count("pk", filter=Q(outcome__in=(Outcome.SKIPPED, Outcome.XFAILED))),
    )
    statuses = {status for status, _, _ in shard_statuses}
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
    # One line per shard that says why it ended; pytest's output stays on the shard, shown once.
    run.error_message = "\n".join(f"Shard {index}: {_summary(message)}" for _, message, index in shard_statuses if message)[:10000]
    run.save()
    to_confirm = run_apply_rules(run=run)
    if to_confirm:
        # A run at a commit is confirmed at the same commit, whatever the branch has moved to since.
        at_commit = bool(run.commit_sha and (run.suite.project.repository or run.revision))
        run_trigger(
            suite=run.suite, node_ids=to_confirm, trigger=Run.Trigger.RERUN, rerun_of=run, revision=run.commit_sha if at_commit else ""
        )
    return True


def _summary(message: str) -> str:
    """The first line of a shard's message, as a sentence."""
    line = message.strip().splitlines()[0].rstrip(":").strip()
    return line if line.endswith(".") else f"{line}."
