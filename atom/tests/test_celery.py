"""A real worker answers, configured as QUALITY part B asks; nothing runs for a rolled-back transaction."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from atom.celery import app
from atom.tasks import ping


def test_the_app_is_configured_for_at_least_once_delivery():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility


def test_the_broker_follows_the_environment():
    expected = settings.REDIS_URL or "filesystem://"
    assert app.conf.broker_url.startswith(expected.split("/")[0])


@pytest.mark.django_db
def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(django_capture_on_commit_callbacks):
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            ping.delay_on_commit()  # type: ignore[attr-defined]  # Celery 5.4+ API, missing from the stubs
            raise RuntimeError("roll back")

    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert callbacks == []


@pytest.mark.worker
def test_a_real_worker_answers_ping(celery_worker_process):
    assert ping.delay().get(timeout=60) == "pong"
    assert celery_worker_process.poll() is None


@pytest.mark.worker
@pytest.mark.redis
def test_a_real_worker_answers_ping_over_redis(celery_worker_process):
    assert app.conf.broker_url.startswith("redis://")
    assert ping.delay().get(timeout=60) == "pong"
