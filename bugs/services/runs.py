"""Regression runs: trigger (split into shards), enqueue to the workers, cancel.

Safety rules: pytest runs from an argument list, never a shell; node ids are validated before a run
is created; the broker down at enqueue ends the run as an error and answers 503.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atom.errors import DomainError, NotFoundError, ServiceUnavailableError
from bugs.models import (
    TERMINAL_RUN_STATUSES,
    Bug,
    RegressionTest,
    Run,
    RunShard,
    RunStatus,
    Suite,
)
from bugs.services.suites import suite_default
from bugs.validators import is_node_id, node_id_validate

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
    revision: str = "",
) -> Run:
    """Queue a run of the suite (by default Atom's own regression tests), split into shards.

    With bug keys, the run covers the tests linked to those bugs; with node ids, exactly those; with
    neither, the suite's own selection. ``revision`` (a branch, tag or commit of the suite's project) is
    what the worker checks out in a worktree of its own; blank means the default branch's head (Atom's
    own project: its checkout as it is). It is enqueued only when the transaction commits.
    """
    suite = suite or suite_default()
    revision = revision_validate(revision)
    selected = [node_id_validate(n) for n in node_ids]
    keys = list(bug_keys)
    if keys:
        found = dict(Bug.objects.filter(key__in=keys).values_list("key", "pk"))
        missing = sorted(set(keys) - set(found))
        if missing:
            raise NotFoundError(f"Unknown bugs: {', '.join(missing)}.", details={"keys": missing[:50]})
        linked = RegressionTest.objects.filter(bug_id__in=found.values()).values_list("node_id", flat=True)
        # Only pytest runs here: a link to another tool's test is verified by that tool's imports.
        selected.extend(node_id for node_id in linked if is_node_id(node_id))
        if not selected:
            raise DomainError("None of these bugs has a linked regression test.", code="NO_TESTS")
    selected = sorted(set(selected))
    if len(selected) > settings.ATOM_BUGS_MAX_NODE_IDS:
        raise DomainError(f"A run selects at most {settings.ATOM_BUGS_MAX_NODE_IDS} tests.", code="TOO_MANY_TESTS")
    if not 1 <= shards <= settings.ATOM_BUGS_MAX_SHARDS:
        raise DomainError(f"Shards must be between 1 and {settings.ATOM_BUGS_MAX_SHARDS}.", code="INVALID_SHARDS")
    shards = max(1, min(shards, len(selected))) if selected else 1
    # The total stays 0 ("collecting") until pytest has collected: a parametrized test is several tests,
    # a file many, so the number of node ids selected is no total (the heartbeats publish it).
    run = Run.objects.create(
        suite=suite, trigger=trigger, triggered_by=triggered_by, rerun_of=rerun_of, node_ids=selected, revision=revision
    )
    now = timezone.now()
    RunShard.objects.bulk_create(
        RunShard(run=run, index=i, node_ids=chunk, enqueued_at=now)
        for i, chunk in enumerate(_split(selected, shards) if selected else [[]])
    )
    transaction.on_commit(lambda: run_enqueue(run_id=run.pk), robust=False)
    return run


def revision_validate(value: str) -> str:
    """A revision git reads as one (a branch, tag or hash), never as an option."""
    value = (value or "").strip()
    if value and (value.startswith("-") or len(value) > 200 or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)):
        raise DomainError("A revision is a branch, tag or commit hash: no spaces, no leading '-'.", code="INVALID_REVISION")
    return value


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
