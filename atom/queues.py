"""What waits in the broker: how many tasks are queued, and how long the oldest has been waiting.

Celery's messages carry no time of sending, so every task sent gets one in its headers
(``atom_sent_at``, from ``before_task_publish``). The embedded broker's oldest message is the first
file of its queue, whose modification time is when it was written whole. On Redis it is the tail of
each priority list. Any other transport answers the count only.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SENT_AT_HEADER = "atom_sent_at"


def sent_at_stamp(sender: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: write when the task was sent into its headers."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


def queue_backlog(app: Any, queue: str) -> dict[str, Any]:
    """``{"queued": n, "oldest_age_seconds": s or None}`` for ``queue`` of the Celery ``app``'s broker."""
    from atom.broker import Channel as EmbeddedChannel

    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1)
        channel: Any = connection.default_channel
        queued = int(channel._size(queue))
        oldest = None
        if queued and isinstance(channel, EmbeddedChannel):
            oldest = _oldest_file(Path(channel.data_folder_in), queue)
        elif queued and hasattr(channel, "_q_for_pri") and hasattr(channel, "conn_or_acquire"):
            oldest = _oldest_redis(channel, queue)
    age = None if oldest is None else round(max(0.0, time.time() - oldest), 1)
    return {"queued": queued, "oldest_age_seconds": age}


def _oldest_file(folder: Path, queue: str) -> float | None:
    wanted = f"{queue}.msg"
    # Names start with the time they were written: the first one of the queue is its oldest.
    for name in sorted(os.listdir(folder)):
        if name.partition(".")[2] == wanted:
            try:
                return (folder / name).stat().st_mtime
            except OSError:
                continue  # taken meanwhile
    return None


def _oldest_redis(channel: Any, queue: str) -> float | None:
    """The oldest send time among the tails of the queue's priority lists (kombu pushes left, pops right)."""
    with channel.conn_or_acquire() as client, client.pipeline() as pipe:
        for priority in channel.priority_steps:
            pipe.lindex(channel._q_for_pri(queue, priority), -1)
        tails = pipe.execute()
    stamps = []
    for tail in tails:
        if not tail:
            continue
        try:
            stamp = json.loads(tail).get("headers", {}).get(SENT_AT_HEADER)
        except (ValueError, AttributeError):
            continue
        if isinstance(stamp, int | float):
            stamps.append(float(stamp))
    return min(stamps, default=None)
