"""/healthz: public and bounded; ?deep=1 for operators only, with every service and its latency."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from atom.tasks import ping

DEEP = "/healthz?deep=1"


@pytest.mark.django_db
def test_the_deep_check_is_refused_to_the_public_to_staff_and_to_a_wrong_token(client, staff_user, settings):
    settings.ATOM_HEALTH_TOKEN = "s3cret-health-token-of-the-operators"
    assert client.get(DEEP).status_code == 403
    assert client.get(DEEP, HTTP_X_ATOM_HEALTH_TOKEN="guess").status_code == 403
    client.force_login(staff_user)
    assert client.get(DEEP).status_code == 403  # being staff grants nothing by itself


@pytest.mark.django_db
def test_no_token_is_accepted_when_none_is_configured(client, settings):
    settings.ATOM_HEALTH_TOKEN = ""
    assert client.get(DEEP, HTTP_X_ATOM_HEALTH_TOKEN="").status_code == 403


@pytest.mark.django_db
def test_with_no_worker_the_deep_check_answers_503_within_two_seconds_naming_the_workers(client, settings):
    settings.ATOM_HEALTH_TOKEN = "s3cret-health-token-of-the-operators"
    started = time.monotonic()
    response = client.get(DEEP, HTTP_X_ATOM_HEALTH_TOKEN=settings.ATOM_HEALTH_TOKEN)
    assert time.monotonic() - started < 2.0
    assert response.status_code == 503
    details = response.json()["error"]["details"]
    assert details["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "workers": "unavailable"}
    for name in ("database", "cache", "broker"):
        assert details["details"][name]["latency_ms"] >= 0
    assert details["details"]["broker"]["queued"] >= 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_user_with_the_health_permission_sees_every_service_and_its_latency(client, staff_user, celery_worker_process):
    # The migration creates it; a transactional test before this one may have flushed it, so make sure.
    content_type, _ = ContentType.objects.get_or_create(app_label="atom", model="health")
    permission, _ = Permission.objects.get_or_create(codename="view_health", content_type=content_type, defaults={"name": "health"})
    staff_user.user_permissions.add(permission)
    client.force_login(staff_user)
    assert ping.delay().get(timeout=60) == "pong"  # the worker is up and consuming
    response = client.get(DEEP)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "workers": "ok"}
    assert all(body["details"][name]["latency_ms"] >= 0 for name in body["checks"])
    assert body["details"]["workers"]["workers"]


@pytest.mark.django_db
def test_the_plain_check_stays_cheap_and_public(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
