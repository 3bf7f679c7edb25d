"""The Celery application.

Defaults follow one rule: a task may be delivered twice and a worker may die at any moment. So tasks
are acknowledged late and rejected back to the queue when their worker is lost, a worker holds one
message at a time, and hard time limits stay below the broker's visibility timeout so a message is
never redelivered while its first run is still alive.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atom.settings")

app = Celery("atom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=4,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
app.autodiscover_tasks()
