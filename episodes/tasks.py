"""Celery tasks of the episodes app: thin, take ids, call a service; a second delivery is harmless."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="episodes.segment_session",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=900,
    soft_time_limit=840,
    # Only a transient database failure (locked SQLite, dropped connection) is worth a retry.
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def episode_segment_task(session_pk: int) -> int | None:
    """Segment the new tail of one session, then bring the agent's search graph up to date; returns the
    episode id (None for an unknown session)."""
    from episodes.services.segmenting import episode_segment
    from episodes.vector_index import vector_index

    episode = episode_segment(session_pk=session_pk)
    if episode is None:
        return None
    vector_index.graph_refresh(episode.agent_id)
    return episode.pk


@shared_task(
    name="episodes.lifecycle",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=1800,
    soft_time_limit=1700,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
)
def episodes_lifecycle_task() -> dict[str, int]:
    """The periodic sweep (beat entry "episodes-lifecycle"): complete, decay, archive, consolidate."""
    from episodes.services.lifecycle import episodes_lifecycle_run

    report = episodes_lifecycle_run()
    return {
        "resegmented": report.resegmented,
        "completed": report.completed,
        "decayed": report.decayed,
        "archived": report.archived,
        "consolidated": report.consolidated,
    }
