"""Sending one delivery: an e-mail through Django's backend, or a signed webhook. The outcome is kept on
the row (attempts, status, last error, response code), which the admin's delivery log shows.

A delivery already sent is never sent again, so a task delivered twice is harmless. Failures that may
pass (a 5xx or 429 answer, a timeout, a refused connection, a mail server down) raise
``DeliveryRetry`` for the task to try again later; the others (a 3xx or 4xx answer, a refused address)
are final at once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from notifications.models import Channel, Delivery, DeliveryStatus, Notification
from notifications.services.webhooks import WebhookRefused, webhook_post

ERROR_MAX = 2000
_ADDRESS_SPLIT = re.compile(r"[\s,;]+")


class DeliveryRetry(Exception):
    """A failure worth another try later."""


def webhook_body(notification: Notification, *, slack: bool) -> bytes:
    """The JSON a webhook receives: Slack's ``text`` message, or the generic event document."""
    text = f"{notification.title}\n{notification.text}".strip()
    if slack:
        document: dict[str, Any] = {"text": text}
    else:
        document = {
            "id": notification.pk,
            "event": notification.kind,
            "object": notification.object_key,
            "trigger": notification.trigger,
            "project": notification.project_id_ref,
            "title": notification.title,
            "text": notification.text,
            "url": notification.url,
            "created_at": notification.created_at.isoformat(),
        }
    return json.dumps(document, sort_keys=True).encode("utf-8")


def _finish(delivery: Delivery, *, status: str, error: str = "", code: int | None = None) -> None:
    delivery.status = status
    delivery.last_error = error[:ERROR_MAX]
    delivery.response_code = code
    if status == DeliveryStatus.SENT:
        delivery.sent_at = timezone.now()
    delivery.save(update_fields=["status", "last_error", "response_code", "sent_at"])


def _send_email(delivery: Delivery) -> None:
    notification = delivery.notification
    recipients = [address for address in _ADDRESS_SPLIT.split(delivery.target) if address]
    body = notification.text + (f"\n\n{notification.url}" if notification.url else "")
    send_mail(f"[Atom] {notification.title}", body, None, recipients)


def delivery_send(*, delivery_id: int, final_attempt: bool = True) -> str:
    """Send one delivery and keep the outcome on its row: its status afterwards.

    ``final_attempt`` False: a failure that may pass raises DeliveryRetry (status "retrying")."""
    with transaction.atomic():
        # Only the delivery's own row is locked: PostgreSQL refuses FOR UPDATE on the nullable side of the
        # outer join to the channel (BUG-134).
        delivery = Delivery.objects.select_for_update(of=("self",)).select_related("notification", "channel").filter(pk=delivery_id).first()
        if delivery is None or delivery.status in (DeliveryStatus.SENT, DeliveryStatus.REFUSED):
            return delivery.status if delivery else "missing"
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    retry_status = DeliveryStatus.FAILED if final_attempt else DeliveryStatus.RETRYING
    if delivery.transport == Channel.Kind.EMAIL:
        try:
            _send_email(delivery)
        except OSError as exc:
            _finish(delivery, status=retry_status, error=f"Mail not sent: {exc!r}")
            if not final_attempt:
                raise DeliveryRetry(str(exc)) from exc
            return delivery.status
        _finish(delivery, status=DeliveryStatus.SENT)
        return delivery.status
    secret = delivery.channel.secret if delivery.channel is not None else ""
    body = webhook_body(delivery.notification, slack=delivery.transport == Channel.Kind.SLACK)
    try:
        response = webhook_post(url=delivery.target, body=body, secret=secret)
    except WebhookRefused as exc:
        _finish(delivery, status=DeliveryStatus.REFUSED, error=exc.message)
        return delivery.status
    except OSError as exc:
        _finish(delivery, status=retry_status, error=f"No answer: {exc!r}")
        if not final_attempt:
            raise DeliveryRetry(str(exc)) from exc
        return delivery.status
    if 200 <= response.status < 300:
        _finish(delivery, status=DeliveryStatus.SENT, code=response.status)
    elif response.status >= 500 or response.status == 429:
        _finish(delivery, status=retry_status, error=f"HTTP {response.status}: {response.body[:500]}", code=response.status)
        if not final_attempt:
            raise DeliveryRetry(f"HTTP {response.status}")
    else:
        reason = "a redirect, not followed" if 300 <= response.status < 400 else "refused by the receiver"
        _finish(
            delivery, status=DeliveryStatus.FAILED, error=f"HTTP {response.status} ({reason}): {response.body[:500]}", code=response.status
        )
    return delivery.status
