"""Celery tasks of the bugs app: thin wrappers that take ids and call the run services.

Each is safe to deliver twice (the services claim shards and finalize runs with conditional
updates), is acknowledged late and rejected back to the queue when its worker dies, and retries only
on database connection errors, with backoff and jitter.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

# Only a lost database connection is worth retrying; anything else is a terminal state on the row.
_RETRY_ON_LOST_DATABASE: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(
    name="bugs.run_shard",
    acks_late=True,
    reject_on_worker_lost=True,
    # The suite's own timeout kills pytest first; these only catch a runner that itself hangs.
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    **_RETRY_ON_LOST_DATABASE,
)
def run_shard_task(shard_id: int, finalize: bool) -> None:
    """Execute one shard of a run (and finalize the run when it is its only shard)."""
    from bugs.services.shards import run_shard_execute

    run_shard_execute(shard_id=shard_id, finalize=finalize)


@shared_task(
    name="bugs.run_finalize",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=600,
    soft_time_limit=540,
    **_RETRY_ON_LOST_DATABASE,
)
def run_finalize_task(run_id: int) -> None:
    """Merge a sharded run's shards (the chord callback) and apply the status rules."""
    from bugs.services.results import run_finalize

    run_finalize(run_id=run_id)


@shared_task(
    name="bugs.run_import",
    acks_late=True,
    reject_on_worker_lost=True,
    # A 64 MB report is read and stored in well under a minute; these catch a parse that hangs.
    soft_time_limit=1140,
    time_limit=1200,
    **_RETRY_ON_LOST_DATABASE,
)
def run_import_task(run_id: int) -> None:
    """Read an imported report's upload into results, attach them and finalize the run."""
    from bugs.services.imports import run_import_parse

    run_import_parse(run_id=run_id)


@shared_task(
    name="bugs.reap_stale_runs",
    acks_late=True,
    time_limit=300,
    soft_time_limit=240,
    **_RETRY_ON_LOST_DATABASE,
)
def reap_stale_runs_task() -> int:
    """Periodic: hand the shards of dead workers to live ones, so no run stays stuck in running."""
    from bugs.services.shards import run_reap_stale

    return run_reap_stale()


@shared_task(name="bugs.scheduled_regression_run", acks_late=True, time_limit=120, soft_time_limit=90)
def scheduled_regression_run_task() -> int:
    """Periodic (ATOM_BUGS_SCHEDULED_RUN_SECONDS): queue a run of Atom's own regression tests, unless one is in flight."""
    from bugs.services.runs import run_trigger_scheduled

    return run_trigger_scheduled().pk


@shared_task(
    name="bugs.projects_link_commits",
    acks_late=True,
    # One git fetch per project, each bounded by git's own timeout in bugs.repos.
    time_limit=3600,
    soft_time_limit=3300,
    **_RETRY_ON_LOST_DATABASE,
)
def projects_link_commits_task() -> dict[str, str]:
    """Periodic (ATOM_PROJECTS_LINK_INTERVAL_SECONDS): fetch each project with a repository and link its
    default branch's "Fixes BUG-N" commits; a failing project is recorded on its row and skipped."""
    from bugs.services.projects import projects_link_all

    return projects_link_all()


@shared_task(
    name="bugs.prove_regressions",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    **_RETRY_ON_LOST_DATABASE,
)
def prove_regressions_task(keys: list[str]) -> int:
    """Prove the linked tests of these bugs (run at the fix's parent and at the fix); how many verdicts."""
    from bugs.services.proofs import bugs_to_prove, regressions_prove

    return len(regressions_prove(bugs=bugs_to_prove(keys=keys)))
