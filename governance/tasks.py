"""Periodic governance work, thin over the services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="governance.proposals_expire", acks_late=True, time_limit=120, soft_time_limit=100, expires=600, ignore_result=True)
def proposals_expire() -> int:
    """Expire pending proposals past their TTL. Idempotent: a second delivery finds nothing to do."""
    from governance.services.proposals import proposals_expire as expire

    return expire()
