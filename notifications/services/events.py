"""Recording an event once and fanning it out to the channels and users who hear it.

Dedupe lives in the database: (kind, object, trigger) is unique, so the second of two tasks or scans
that see the same event inserts nothing and sends nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from notifications.models import Channel, Delivery, EventKind, Notification, Subscription


@dataclass(frozen=True)
class Event:
    """Something worth telling: what kind, about which object, set off by which value (the dedupe key),
    for which project, and any users to tell whatever their subscriptions (those mentioned)."""

    kind: str
    object_key: str
    trigger: str
    title: str
    text: str = ""
    url: str = ""
    project_id: int | None = None
    user_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hears(events: Any, kind: str) -> bool:
    return not events or (isinstance(events, list) and kind in events)


def _channel_target(channel: Channel) -> str:
    return channel.emails if channel.kind == Channel.Kind.EMAIL else channel.url


def _deliveries(notification: Notification, event: Event) -> list[Delivery]:
    """One delivery per channel hearing the event and per user to tell by e-mail."""
    rows = [
        Delivery(
            notification=notification,
            channel=channel,
            target_key=f"channel:{channel.pk}",
            transport=channel.kind,
            target=_channel_target(channel),
        )
        for channel in Channel.objects.filter(active=True).order_by("pk")
        if (channel.project_id is None or channel.project_id == event.project_id) and _hears(channel.events, event.kind)
    ]
    subscriptions = {sub.user_id: sub for sub in Subscription.objects.filter(email=True).order_by("pk")}
    wanted = set(event.user_ids) | {user_id for user_id, sub in subscriptions.items() if event.kind in (sub.events or [])}
    # A user mentioned but with e-mail switched off hears nothing.
    muted = set(Subscription.objects.filter(email=False).values_list("user_id", flat=True))
    users = get_user_model().objects.filter(pk__in=wanted - muted, is_active=True).exclude(email="").order_by("pk")
    rows += [
        Delivery(notification=notification, user=user, target_key=f"user:{user.pk}", transport=Channel.Kind.EMAIL, target=user.email)
        for user in users
    ]
    return rows


def event_record(*, event: Event) -> list[int]:
    """Record ``event`` and its deliveries: the ids of the deliveries to send (none when the event was
    already recorded). The caller sends them once its transaction has committed."""
    EventKind(event.kind)
    with transaction.atomic():
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    kind=event.kind,
                    object_key=event.object_key[:200],
                    trigger=event.trigger[:200],
                    project_id_ref=event.project_id,
                    title=event.title[:300],
                    text=event.text,
                    url=event.url[:500],
                )
        except IntegrityError:
            return []
        deliveries = Delivery.objects.bulk_create(_deliveries(notification, event))
        ids = [delivery.pk for delivery in deliveries]
        if not ids or ids[0] is None:  # backends that return no ids from bulk_create
            ids = list(Delivery.objects.filter(notification=notification).values_list("pk", flat=True))
    return ids
