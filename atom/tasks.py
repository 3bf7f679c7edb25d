"""Platform tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="atom.ping", acks_late=True, reject_on_worker_lost=True, time_limit=10, soft_time_limit=5)
def ping() -> str:
    """Answer "pong": proves that a real worker is consuming the broker."""
    return "pong"
