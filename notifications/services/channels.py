"""Writes on channels and subscriptions (the admin calls these): what they hear is checked against the
known event kinds, a channel's addresses and URL against what can be delivered."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from atom.errors import DomainError
from notifications.models import Channel, EventKind, Subscription

_ADDRESS_SPLIT = re.compile(r"[\s,;]+")


def events_validate(events: Any) -> list[str]:
    """A list of known event kinds, without repeats."""
    if not isinstance(events, list) or not all(isinstance(kind, str) for kind in events):
        raise DomainError("Events are a list of event kinds.", code="VALIDATION_ERROR")
    unknown = sorted(set(events) - set(EventKind.values))
    if unknown:
        raise DomainError(f"Unknown event kinds: {', '.join(unknown)}.", code="VALIDATION_ERROR")
    return list(dict.fromkeys(events))


def channel_validate(channel: Channel) -> None:
    """Refuse a channel that could never deliver: bad addresses, or a webhook URL that is not http(s)."""
    channel.events = events_validate(channel.events)
    if channel.kind == Channel.Kind.EMAIL:
        addresses = [address for address in _ADDRESS_SPLIT.split(channel.emails) if address]
        if not addresses:
            raise DomainError("An e-mail channel needs at least one address.", code="VALIDATION_ERROR")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise DomainError(f"Not an e-mail address: {address}.", code="VALIDATION_ERROR") from None
        return
    if urlsplit(channel.url).scheme.lower() not in ("http", "https"):
        raise DomainError("A webhook URL is http or https.", code="VALIDATION_ERROR")
    if not channel.secret:
        raise DomainError("A webhook channel signs its requests: it needs a secret.", code="VALIDATION_ERROR")


def channel_save(*, channel: Channel) -> Channel:
    channel_validate(channel)
    channel.save()
    return channel


def subscription_save(*, subscription: Subscription) -> Subscription:
    subscription.events = events_validate(subscription.events)
    subscription.save()
    return subscription
