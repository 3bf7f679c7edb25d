"""The embedded broker: kombu's filesystem transport, with every file appearing whole and taken once.

kombu's filesystem transport creates a message file under its final name and then writes into it, so
a consumer that lists the folder in between reads an empty file and the worker dies with
``JSONDecodeError`` (kombu issue 1551). It also moves a taken message to the system's temporary
folder, which is a copy and a delete when that folder is on another file system, so two consumers
could both take one message. The exchange tables (used by broadcast commands such as ``ping``) are
rewritten in place the same way.

Here a message is written under a name no consumer looks at and renamed into place (``rename`` is
atomic within one folder), and a consumer takes a message by renaming it to a private name in the
same folder, which exactly one consumer can do. Exchange tables are replaced whole, under a lock.
Settings select this transport whenever the broker URL is ``filesystem://``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger("atom.broker")

# Files being written or taken start with a dot: kombu's own listing (``_size``, ``_purge``) and ours
# match only ``<stamp>_<uuid>.<queue>.msg``, so these are invisible to every queue.
_PARTIAL = ".partial-"
_CLAIMED = ".claimed-"

Table = list[filesystem.exchange_queue_t]


def _write_whole(target: Path, data: bytes) -> None:
    """Write ``data`` to a hidden name beside ``target``, then rename it into place: readers see all or nothing."""
    temporary = target.with_name(f"{_PARTIAL}{uuid.uuid4().hex}")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    """A filesystem channel whose writes are atomic and whose reads take a message at most once."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # the stubs lag kombu
        """Put a message on ``queue``; it becomes visible only once completely written."""
        # The name sorts by time like kombu's, so the order of delivery stays first in, first out.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        target = Path(self.data_folder_out) / name
        try:
            _write_whole(target, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to the queue folder") from exc

    def _get(self, queue: str) -> Any:  # type: ignore[override]  # the stubs lag kombu
        """Take the oldest message of ``queue``; raise Empty when there is none."""
        folder = Path(self.data_folder_in)
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = folder / f"{_CLAIMED}{uuid.uuid4().hex}"
            try:
                # Within one folder: atomic, so of two consumers exactly one gets the file.
                os.rename(folder / name, claimed)
            except OSError:
                continue
            try:
                payload = claimed.read_bytes()
            except OSError as exc:
                raise ChannelError(f"Cannot read the message {name!r}") from exc
            try:
                message = loads(bytes_to_str(payload))
            except ValueError:
                # Only a file written by another program (or an older transport) can get here; one bad
                # file must not stop the worker, and it is kept for whoever investigates.
                kept = claimed.with_name(f".unreadable-{name}")
                os.replace(claimed, kept)
                logger.error("Embedded broker: skipped an unreadable message file, kept as %s (%d bytes).", kept, len(payload))
                continue
            self._processed(claimed, name)
            return message
        raise Empty()

    def _processed(self, claimed: Path, name: str) -> None:
        if self.store_processed:
            shutil.move(str(claimed), str(Path(self.processed_folder) / name))
        else:
            claimed.unlink(missing_ok=True)

    def _queue_bind(self, exchange: str, routing_key: str | None, pattern: str | None, queue: str | None) -> None:
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_update(exchange, lambda table: table if entry in table else [entry, *table])

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_update(exchange, lambda table: [item for item in table if item != entry])

    def _table_update(self, exchange: str, change: Callable[[Table], Table]) -> None:
        """Read, change and replace an exchange table whole, one process at a time."""
        file: Path = self._exchange_file(exchange)  # type: ignore[attr-defined]  # kombu's name check, missing from the stubs
        folder = self.control_folder
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(folder / f".{file.name}.lock", "a") as guard:
                fcntl.flock(guard, fcntl.LOCK_EX)  # released when the file closes
                table = self.get_table(exchange)
                changed = change(table)
                if changed != table:
                    _write_whole(file, str_to_bytes(dumps(changed)))
        except OSError as exc:
            raise ChannelError(f"Cannot update {file}") from exc


class FilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`; Atom's embedded broker."""

    Channel = Channel
