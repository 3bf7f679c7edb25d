"""The notifications in the admin: channels and subscriptions under notifications.manage_channels, checked
before they are stored; the delivery log read-only, where failures show with their error and code."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from notifications.models import Channel, Delivery, DeliveryStatus, EventKind, Notification

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="staffer", password=PASSWORD, is_staff=True)


def _channel_form(**fields):
    return {"name": "ops", "kind": "webhook", "url": "https://hooks.example.org/atom", "secret": "s" * 40, "active": "on", **fields}


def test_staff_alone_cannot_see_or_manage_channels(client, staff):
    client.force_login(staff)
    assert client.get("/admin/notifications/channel/").status_code == 403
    assert client.post("/admin/notifications/channel/add/", _channel_form()).status_code == 403
    assert not Channel.objects.exists()


def test_the_manage_permission_adds_a_channel_and_bad_ones_are_refused(client, staff):
    staff.user_permissions.add(Permission.objects.get(codename="manage_channels"))
    client.force_login(staff)
    refused = client.post("/admin/notifications/channel/add/", _channel_form(url="ftp://hooks.example.org/atom"))
    assert refused.status_code == 200
    assert not Channel.objects.exists()
    bad_mail = client.post("/admin/notifications/channel/add/", _channel_form(kind="email", url="", emails="not-an-address"))
    assert b"Not an e-mail address" in bad_mail.content
    response = client.post("/admin/notifications/channel/add/", _channel_form(events=[EventKind.SLA_BREACHED, EventKind.RUN_STUCK]))
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.events == [EventKind.SLA_BREACHED, EventKind.RUN_STUCK]


def test_the_delivery_log_shows_failures_with_their_error_and_code(client, staff):
    notification = Notification.objects.create(kind=EventKind.RUN_ERRORED, object_key="run:9", trigger="9", title="Run #9 errored")
    Delivery.objects.create(
        notification=notification, target_key="channel:1", transport="webhook", target="https://hooks.example.org/x",
        status=DeliveryStatus.FAILED, attempts=6, response_code=503, last_error="HTTP 503: upstream unavailable",
    )  # fmt: skip
    Delivery.objects.create(
        notification=notification, target_key="channel:2", transport="webhook", target="http://169.254.169.254/",
        status=DeliveryStatus.REFUSED, attempts=1, last_error="169.254.169.254 resolves to 169.254.169.254, not a public address",
    )  # fmt: skip
    client.force_login(staff)
    assert client.get("/admin/notifications/delivery/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    page = client.get("/admin/notifications/delivery/?outcome=failures").content.decode()
    assert "HTTP 503: upstream unavailable" in page
    assert "503" in page
    assert "not a public address" in page
    delivery = Delivery.objects.order_by("pk")[0]
    assert client.post(f"/admin/notifications/delivery/{delivery.pk}/change/", {"status": "sent"}).status_code == 403
