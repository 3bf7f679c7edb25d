"""Celery beat's scheduler for Atom: the file-backed one, which makes its own folder first.

Beat keeps its schedule in a shelve file under var/celery/. That folder used to be made by the
settings only for the embedded broker, so with Redis beat died at start on a fresh var directory
(BUG-082), and silently so under ``worker --beat``. The scheduler now makes the folder itself, at
start-up, whatever the broker and wherever ``CELERY_BEAT_SCHEDULE_FILENAME`` points.
"""

from __future__ import annotations

from pathlib import Path

from celery import beat


class PersistentScheduler(beat.PersistentScheduler):
    """Celery's PersistentScheduler, creating the schedule file's folder before opening it."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]  # set by __init__, missing from the stubs
        super().setup_schedule()
