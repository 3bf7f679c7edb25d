"""Celery tasks of the notifications: thin wrappers that take ids or plain data and call a service.

Each is harmless when delivered twice: an event is recorded once (a unique constraint), a delivery
already sent is skipped.
"""

from __future__ import annotations

import secrets
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

_RETRY_ON = (OperationalError, InterfaceError)


def _enqueue(delivery_ids: list[int]) -> None:
    from django.db import transaction

    def send() -> None:
        for delivery_id in delivery_ids:
            delivery_send_task.delay(delivery_id)

    transaction.on_commit(send)


@shared_task(name="notifications.event_record", acks_late=True, reject_on_worker_lost=True, autoretry_for=_RETRY_ON,
             retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=3, time_limit=120, soft_time_limit=100)  # fmt: skip
def event_record_task(event: dict[str, Any]) -> int:
    """Record one event (told by a signal) and send its deliveries."""
    from django.db import transaction

    from notifications.services.events import Event, event_record

    with transaction.atomic():
        ids = event_record(event=Event(**event))
        _enqueue(ids)
    return len(ids)


@shared_task(name="notifications.scan", acks_late=True, time_limit=300, soft_time_limit=270)
def scan_task() -> int:
    """Record the time-driven events (beat runs this every ATOM_NOTIFY_SCAN_SECONDS)."""
    from django.db import transaction

    from notifications.services.events import event_record
    from notifications.services.scan import events_scan

    sent = 0
    for event in events_scan():
        with transaction.atomic():
            ids = event_record(event=event)
            _enqueue(ids)
        sent += len(ids)
    return sent


@shared_task(name="notifications.deliver", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None,
             time_limit=120, soft_time_limit=100)  # fmt: skip
def delivery_send_task(self: Any, delivery_id: int) -> str:
    """Send one delivery; a failure that may pass is tried again with exponential backoff and jitter."""
    from notifications.services.delivery import DeliveryRetry, delivery_send

    retries = self.request.retries or 0
    try:
        return delivery_send(delivery_id=delivery_id, final_attempt=retries >= settings.ATOM_NOTIFY_MAX_RETRIES)
    except DeliveryRetry as exc:
        ceiling = min(600.0, settings.ATOM_NOTIFY_BACKOFF_SECONDS * 2 ** (retries + 1))
        raise self.retry(exc=exc, countdown=secrets.SystemRandom().uniform(ceiling / 2, ceiling)) from exc
