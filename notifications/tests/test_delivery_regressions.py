"""A delivery that can never succeed ends at once, with its reason, instead of being retried."""

from __future__ import annotations

import contextlib

import pytest

from notifications.models import Channel, Delivery, DeliveryStatus, EventKind
from notifications.services.delivery import delivery_send
from notifications.services.events import Event, event_record

pytestmark = pytest.mark.django_db


@pytest.mark.regression("BUG-133")
def test_p3_quality_a_url_the_http_client_refuses_is_retried_as_if_it_could_pass_regression():
    # A channel stored by hand (not through the admin's form) with a space in its path: the address is
    # allowed, but Python's HTTP client refuses the request line before sending anything.
    Channel.objects.create(name="typo", kind=Channel.Kind.WEBHOOK, url="http://127.0.0.2:9/hooks/atom ops")
    [pk] = event_record(event=Event(kind=EventKind.RUN_STUCK, object_key="run:3", trigger="3", title="Run #3 stuck"))
    # What matters is the row the attempt leaves behind, whatever it raised.
    with contextlib.suppress(Exception):
        delivery_send(delivery_id=pk, final_attempt=False)
    delivery = Delivery.objects.get(pk=pk)
    assert delivery.status == DeliveryStatus.REFUSED
    assert "can't contain control characters" in delivery.last_error


@pytest.mark.postgres
@pytest.mark.regression("BUG-134")
def test_p1_crash_every_delivery_fails_on_postgresql_regression(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="team", kind=Channel.Kind.EMAIL, emails="team@example.org")
    [pk] = event_record(event=Event(kind=EventKind.RUN_ERRORED, object_key="run:4", trigger="4", title="Run #4 errored"))
    assert delivery_send(delivery_id=pk) == DeliveryStatus.SENT
