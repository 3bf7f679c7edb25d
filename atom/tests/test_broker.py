"""The embedded broker (a filesystem transport under var/): no consumer ever reads a half-written message."""

from __future__ import annotations

import builtins
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection


def _embedded_connection(root: Path) -> Connection:
    """A connection to a private embedded broker, through the transport Atom uses in embedded mode."""
    transport = getattr(settings, "ATOM_EMBEDDED_BROKER_TRANSPORT", "filesystem")
    queue = root / "queue"
    for folder in (queue, root / "control", root / "processed"):
        folder.mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(root / "control"),
        "processed_folder": str(root / "processed"),
        "store_processed": False,
    }
    return Connection("filesystem://", transport=transport, transport_options=options)


class _PausingFile:
    """A file being written whose every write first lets a consumer look at the queue (the race, made certain)."""

    def __init__(self, file: Any, on_write: Any) -> None:
        self._file, self._on_write = file, on_write

    def write(self, data: bytes) -> int:
        self._on_write()
        return int(self._file.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _PausingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


@pytest.mark.regression("BUG-081")
def test_p1_crash_embedded_broker_reads_half_written_message_regression(tmp_path, monkeypatch):
    """BUG-081 (P1, crash): the embedded worker died reading a message file that was still being written.

    kombu's filesystem transport creates the message file under its final name and then writes it, so
    a consumer listing the folder in between takes an empty file: ``JSONDecodeError`` in the worker's
    consumer, "Unrecoverable error", and the worker is gone (kombu issue 1551) while `make run` went on
    serving. Here a consumer polls the queue at the very moment the producer writes: it must find
    nothing, then the whole message, exactly once.
    """
    producer, consumer = _embedded_connection(tmp_path), _embedded_connection(tmp_path)
    produce: Any = producer.default_channel
    consume: Any = consumer.default_channel
    message = {"body": "x" * 1000, "properties": {"delivery_tag": "t1"}, "headers": {}}
    seen_mid_write: list[str] = []
    queue_folder = str(tmp_path / "queue")
    real_open = builtins.open

    def poll() -> None:
        try:
            seen_mid_write.append(f"a message: {consume._get('probe')!r}"[:200])
        except Empty:
            seen_mid_write.append("nothing")
        except Exception as exc:
            seen_mid_write.append(f"{type(exc).__name__}: {exc}")

    def spying_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened = real_open(file, mode, *args, **kwargs)
        if ("w" in mode or "x" in mode) and str(file).startswith(queue_folder):
            return _PausingFile(opened, poll)
        return opened

    try:
        with monkeypatch.context() as patch:
            patch.setattr(builtins, "open", spying_open)
            produce._put("probe", message)
        assert seen_mid_write, "the producer never wrote"
        assert set(seen_mid_write) == {"nothing"}, seen_mid_write
        assert consume._get("probe") == message
        with pytest.raises(Empty):
            consume._get("probe")
    finally:
        producer.release()
        consumer.release()


@pytest.mark.worker
@pytest.mark.timeout(180)
def test_the_embedded_broker_loses_and_duplicates_nothing_under_producers_consumers_and_beat(tmp_path):
    """Three producer processes, two workers and beat on one queue folder for 20 s (P12 runs it for ten minutes)."""
    if settings.REDIS_URL:
        # Same embedded broker either way; CI's embedded pass runs it, the pass with Redis need not repeat it.
        pytest.skip("the embedded broker's stress runs in the pass without services")
    from bench.broker_stress import stress

    figures = stress(seconds=20, producers=3, consumers=2, root=tmp_path)
    assert figures["crashes"] == 0, figures["crash_lines"]
    assert figures["sent"] >= 300, figures  # the producers really produced
    assert figures["beat_sent"] >= 5, figures
    assert (figures["lost"], figures["beat_lost"], figures["duplicates"]) == (0, 0, 0), figures
