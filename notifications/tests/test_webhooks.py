"""Webhooks: signed (each signature checked here with hmac, independently of Atom's code), retried after a
5xx by a real worker, sent once per event, and never sent to a private, loopback or link-local address."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.core import mail
from django.db import transaction

from atom.testing import wait_until
from notifications.models import Channel, Delivery, DeliveryStatus, EventKind, Notification, Subscription
from notifications.services.delivery import delivery_send
from notifications.services.events import Event, event_record
from notifications.services.webhooks import WebhookRefused, webhook_target
from notifications.tests.receiver import webhook_receiver


def _event(**fields) -> Event:
    values = {"kind": EventKind.RUN_ERRORED, "object_key": "run:7", "trigger": "7", "title": "Run #7 of atom errored", "text": "boom"}
    return Event(**{**values, **fields})


def _signature_ok(request, secret: str) -> bool:
    timestamp = request.headers["x-atom-timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["x-atom-signature"]) and abs(time.time() - int(timestamp)) < 60


@pytest.mark.django_db
def test_a_generic_and_a_slack_webhook_reach_a_local_receiver_each_signed():
    with webhook_receiver(200) as receiver:
        generic = Channel.objects.create(name="ci", kind=Channel.Kind.WEBHOOK, url=receiver.url)
        slack = Channel.objects.create(name="chat", kind=Channel.Kind.SLACK, url=receiver.url + "?room=ops")
        ids = event_record(event=_event())
        assert [delivery_send(delivery_id=pk) for pk in ids] == ["sent", "sent"]
    assert len(receiver.requests) == 2
    by_path = {request.path: request for request in receiver.requests}
    document = json.loads(by_path["/hook"].body)
    assert document["event"] == "run_errored"
    assert document["object"] == "run:7"
    assert json.loads(by_path["/hook?room=ops"].body) == {"text": "Run #7 of atom errored\nboom"}
    assert _signature_ok(by_path["/hook"], generic.secret)
    assert _signature_ok(by_path["/hook?room=ops"], slack.secret)
    assert not _signature_ok(by_path["/hook"], slack.secret)
    assert set(Delivery.objects.values_list("response_code", flat=True)) == {200}


@pytest.mark.django_db
def test_a_duplicate_event_sends_nothing():
    with webhook_receiver(200) as receiver:
        Channel.objects.create(name="ci", kind=Channel.Kind.WEBHOOK, url=receiver.url)
        first = event_record(event=_event())
        second = event_record(event=_event(title="the same run, told again"))
        for pk in first + second:
            delivery_send(delivery_id=pk)
        delivery_send(delivery_id=first[0])  # a task delivered twice
    assert second == []
    assert Notification.objects.count() == 1
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_email_goes_through_the_locmem_backend_to_channels_and_subscribers(django_user_model, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="team", kind=Channel.Kind.EMAIL, emails="qa@example.org, lead@example.org")
    subscriber = django_user_model.objects.create_user(username="ana", email="ana@example.org", password="x" * 12)
    Subscription.objects.create(user=subscriber, events=[EventKind.RUN_ERRORED])
    quiet = django_user_model.objects.create_user(username="bo", email="bo@example.org", password="x" * 12)
    Subscription.objects.create(user=quiet, events=[EventKind.SLA_BREACHED])
    for pk in event_record(event=_event()):
        assert delivery_send(delivery_id=pk) == "sent"
    assert sorted(tuple(message.to) for message in mail.outbox) == [("ana@example.org",), ("qa@example.org", "lead@example.org")]
    assert all(message.subject == "[Atom] Run #7 of atom errored" for message in mail.outbox)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8000/admin/",
        "http://10.1.2.3/hook",
        "http://192.168.1.1/",
        "http://172.16.0.9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
        "http://localhost/hook",
        "ftp://example.org/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.2/",
        "http://user:pw@127.0.0.2/",
    ],
)
def test_it_refuses_private_loopback_and_link_local_addresses_and_other_schemes(url):
    with pytest.raises(WebhookRefused):
        webhook_target(url)


def test_the_allow_list_lets_a_named_address_or_network_through(settings):
    assert webhook_target("http://127.0.0.2:9/hook").address == "127.0.0.2"
    settings.ATOM_NOTIFY_ALLOWED_HOSTS = ["10.0.0.0/8"]
    assert webhook_target("http://10.1.2.3/hook").address == "10.1.2.3"
    with pytest.raises(WebhookRefused):
        webhook_target("http://127.0.0.2/hook")


@pytest.mark.django_db
def test_a_refused_address_is_logged_and_never_retried():
    Channel.objects.create(name="metadata", kind=Channel.Kind.WEBHOOK, url="http://169.254.169.254/latest/meta-data/")
    [pk] = event_record(event=_event())
    assert delivery_send(delivery_id=pk, final_attempt=False) == "refused"
    delivery = Delivery.objects.get(pk=pk)
    assert "169.254.169.254" in delivery.last_error
    assert delivery_send(delivery_id=pk, final_attempt=False) == "refused"
    assert Delivery.objects.get(pk=pk).attempts == 1


@pytest.mark.django_db
def test_a_redirect_is_not_followed():
    with webhook_receiver(302, location="http://127.0.0.2:1/elsewhere") as receiver:
        Channel.objects.create(name="ci", kind=Channel.Kind.WEBHOOK, url=receiver.url)
        [pk] = event_record(event=_event())
        assert delivery_send(delivery_id=pk, final_attempt=False) == "failed"
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get(pk=pk)
    assert delivery.response_code == 302
    assert "redirect" in delivery.last_error


@pytest.mark.worker
def test_after_a_500_a_real_worker_retries_the_delivery_until_it_is_sent(transactional_db, celery_worker_process):
    with webhook_receiver(500, 200) as receiver:
        channel = Channel.objects.create(name="ci", kind=Channel.Kind.WEBHOOK, url=receiver.url)
        from notifications.tasks import _enqueue

        with transaction.atomic():
            ids = event_record(event=_event())
            _enqueue(ids)
        wait_until(lambda: Delivery.objects.get(pk=ids[0]).status == DeliveryStatus.SENT, timeout=60, message="the delivery sent")
    delivery = Delivery.objects.get(pk=ids[0])
    assert delivery.attempts == 2
    assert delivery.response_code == 200
    assert len(receiver.requests) == 2
    assert all(_signature_ok(request, channel.secret) for request in receiver.requests)
    assert receiver.requests[0].body == receiver.requests[1].body
