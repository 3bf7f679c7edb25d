"""Workers say they are alive: a thread in each worker's main process writes its heartbeat row.

Started by Celery's ``worker_ready`` signal and stopped by ``worker_shutdown`` (atom.celery), which also
removes the row, so a worker stopped cleanly leaves the list at once and a killed one after a minute.
A database that is down costs a missed beat, never the worker.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger("atom.workers")

# The window of "seen in the last minute".
SEEN_WITHIN = timedelta(minutes=1)

_stop = threading.Event()


def heartbeat_write(*, hostname: str, started_at: Any) -> None:
    """Record that the worker ``hostname`` is alive now."""
    from atom.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255], defaults={"pid": os.getpid(), "started_at": started_at, "seen_at": timezone.now()}
    )


def _beat(hostname: str) -> None:
    started_at = timezone.now()
    while True:
        try:
            heartbeat_write(hostname=hostname, started_at=started_at)
        except Exception as exc:  # noqa: BLE001 - a missed beat is logged; the worker goes on
            logger.warning("Worker heartbeat not written (%s)", type(exc).__name__)
        finally:
            connection.close()  # this thread's own connection: never left open into an outage
        if _stop.wait(settings.ATOM_WORKER_HEARTBEAT_SECONDS):
            return


def heartbeat_start(sender: Any = None, **kwargs: Any) -> None:
    """``worker_ready``: start beating for this worker."""
    hostname = str(getattr(sender, "hostname", "") or f"worker@{os.uname().nodename}")
    _stop.clear()
    threading.Thread(target=_beat, args=(hostname,), name="atom-worker-heartbeat", daemon=True).start()


def heartbeat_stop(sender: Any = None, **kwargs: Any) -> None:
    """``worker_shutdown``: stop beating and leave the list."""
    from atom.models import WorkerHeartbeat

    _stop.set()
    hostname = str(getattr(sender, "hostname", "") or "")
    try:
        WorkerHeartbeat.objects.filter(hostname=hostname, pid=os.getpid()).delete()
    except Exception as exc:  # noqa: BLE001 - the row then ages out of the minute
        logger.warning("Worker heartbeat not removed (%s)", type(exc).__name__)
    finally:
        connection.close()


def workers_seen(*, now: Any = None) -> list[dict[str, Any]]:
    """The workers seen in the last minute, with when: one query."""
    from atom.models import WorkerHeartbeat

    since = (now or timezone.now()) - SEEN_WITHIN
    rows = WorkerHeartbeat.objects.filter(seen_at__gte=since).order_by("hostname").values("hostname", "pid", "started_at", "seen_at")
    return [dict(row) for row in rows]
