"""The dashboard's health panel: workers seen in the last minute, queued tasks and the oldest one's age,
runs stuck past their lease; for holders of atom.view_health only, and never held up by the broker."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from atom.celery import app
from atom.models import WorkerHeartbeat
from atom.queues import queue_backlog
from atom.testing import wait_until
from atom.workers import heartbeat_write, workers_seen
from bugs.models import Run, RunShard
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def health_viewer(django_user_model):
    user = django_user_model.objects.create_user(username="ops", password="correct horse battery staple", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="atom", codename="view_health"))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def private_queue(settings):
    """The default queue of this test only, so no worker of the test run takes its messages."""
    settings.CELERY_TASK_DEFAULT_QUEUE = f"health-{uuid.uuid4().hex[:8]}"
    return settings.CELERY_TASK_DEFAULT_QUEUE


def _send(queue: str) -> None:
    with app.connection_for_write() as connection:
        app.send_task("bugs.reap_stale_runs", queue=queue, connection=connection)


def _panel(client) -> str:
    started = time.monotonic()
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert time.monotonic() - started < 5
    body = response.content.decode()
    assert 'id="panel-health"' in body
    return body.split('id="panel-health"', 1)[1].split("</section>", 1)[0]


def test_the_panel_shows_the_queue_its_oldest_task_and_the_workers_seen_in_the_last_minute(client, health_viewer, private_queue):
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="worker@alive", pid=10, started_at=now, seen_at=now - timedelta(seconds=20))
    WorkerHeartbeat.objects.create(hostname="worker@gone", pid=11, started_at=now, seen_at=now - timedelta(seconds=90))
    _send(private_queue)
    time.sleep(1.2)
    _send(private_queue)

    backlog = queue_backlog(app, private_queue)
    assert backlog["queued"] == 2
    assert 1.0 <= backlog["oldest_age_seconds"] < 30
    client.force_login(health_viewer)
    panel = _panel(client)
    assert "worker@alive" in panel
    assert "worker@gone" not in panel
    assert "<strong>1</strong>workers seen in the last minute" in panel
    assert "<strong>2</strong>tasks queued" in panel
    assert 'id="health-oldest"><strong>1 s</strong>' in panel or 'id="health-oldest"><strong>2 s</strong>' in panel


def test_an_empty_queue_has_no_oldest_task(private_queue):
    assert queue_backlog(app, private_queue) == {"queued": 0, "oldest_age_seconds": None}


def test_runs_stuck_past_their_lease_are_listed(client, health_viewer, settings):
    expired = timezone.now() - timedelta(seconds=5)
    stuck = make_run(status="running")
    RunShard.objects.create(run=stuck, index=0, status="running", attempts=1, claimed_by="gone:1", lease_expires_at=expired)
    alive = make_run(status="running")
    RunShard.objects.create(
        run=alive, index=0, status="running", attempts=1, claimed_by="w:1", lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    waiting = make_run(status="queued")
    long_ago = timezone.now() - timedelta(seconds=3 * settings.ATOM_BUGS_LEASE_SECONDS)
    RunShard.objects.create(run=waiting, index=0, status="queued", enqueued_at=long_ago)
    client.force_login(health_viewer)
    panel = _panel(client)
    assert "<strong>2</strong>runs stuck past their lease" in panel
    assert f"Run #{stuck.pk}<" in panel
    assert f"Run #{waiting.pk}<" in panel
    assert f"Run #{alive.pk}<" not in panel
    assert Run.objects.count() == 3


def test_a_broker_that_hangs_shows_unavailable_within_the_health_timeout(client, health_viewer, settings, monkeypatch):
    settings.ATOM_HEALTH_TIMEOUT_SECONDS = 0.5

    def hangs() -> dict[str, object]:
        time.sleep(5)
        return {}

    monkeypatch.setattr("atom.health._broker", hangs)
    client.force_login(health_viewer)
    started = time.monotonic()
    panel = _panel(client)
    assert time.monotonic() - started < 2
    assert "unavailable" in panel
    assert "tasks queued" not in panel


def test_only_holders_of_the_health_permission_see_the_panel(client, django_user_model, health_viewer):
    staff = django_user_model.objects.create_user(username="plain", password="correct horse battery staple", is_staff=True)
    client.force_login(staff)
    body = client.get("/admin/dashboard/").content.decode()
    assert 'id="panel-health"' not in body
    client.force_login(health_viewer)
    body = client.get("/admin/dashboard/").content.decode()
    assert 'id="panel-health"' in body
    assert 'id="dashboard-no-permission"' not in body


def test_a_heartbeat_is_one_row_per_worker_kept_fresh():
    started = timezone.now() - timedelta(minutes=5)
    heartbeat_write(hostname="worker@a", started_at=started)
    heartbeat_write(hostname="worker@a", started_at=started)
    assert [row["hostname"] for row in workers_seen()] == ["worker@a"]
    assert WorkerHeartbeat.objects.count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_is_seen(celery_worker_process):
    wait_until(lambda: workers_seen(), timeout=30, message="the worker's heartbeat row")
    assert any(row["hostname"].startswith("worker") or "@" in row["hostname"] for row in workers_seen())
