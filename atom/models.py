"""The project package's one table: the Celery workers that said they are alive, and when.

Every worker writes its row every ``ATOM_WORKER_HEARTBEAT_SECONDS`` (atom.workers), through the
database every process shares, so the admin's health panel lists the workers seen in the last
minute whatever the broker, without asking the broker anything.
"""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """A Celery worker (its node name) and the last time it said it was alive."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]
        default_permissions = ()  # read through the health permission (atom.view_health), never edited

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid})"
