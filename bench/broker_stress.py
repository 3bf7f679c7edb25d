"""Stress of the embedded broker: several producer processes, two consumer workers and beat, on one queue folder.

Every message is a ``bench.probe`` task that appends its origin and task id to one log; at the end
each sent id must have run exactly once (no loss, no duplicate after acknowledgement) and every
process must still be alive with no "Unrecoverable error" in its log (no crash). Beat's sends are
counted from its own log lines. Used by a short test under CI and by ``make bench`` (P12) for ten
minutes. Run by hand: ``python -m bench.broker_stress --seconds 60``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from celery import shared_task

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE = "stress"
CRASH_MARKS = ("Unrecoverable error", "CRITICAL", "Traceback")


@shared_task(name="bench.probe", acks_late=True, ignore_result=True, bind=True)
def probe(self: Any, origin: str) -> None:
    """Record one execution: a single O_APPEND write, so lines of concurrent workers never interleave."""
    line = f"{origin} {self.request.id}\n".encode()
    fd = os.open(os.environ["ATOM_STRESS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _env(root: Path) -> dict[str, str]:
    """Embedded mode on a private var directory, whatever the caller's environment says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOM_", "CELERY_", "DJANGO_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        {
            "ATOM_ENV": "test",
            "ATOM_VAR_DIR": str(root / "var"),
            "DJANGO_SETTINGS_MODULE": "atom.settings",
            "ATOM_STRESS_LOG": str(root / "executed.log"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn(root: Path, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    log = open(root / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, *argv], cwd=BASE_DIR, env=_env(root), stdout=log, stderr=subprocess.STDOUT)


def _executed(root: Path) -> list[tuple[str, str]]:
    path = root / "executed.log"
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if " " in line]  # type: ignore[misc]


def _sent(root: Path) -> list[str]:
    return [line for path in sorted(root.glob("sent-*.txt")) for line in path.read_text().splitlines() if line]


def _stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def stress(*, seconds: float, producers: int = 3, consumers: int = 2, rate: float = 40.0, root: Path | None = None) -> dict[str, Any]:
    """Run the stress for ``seconds`` and return its figures (see the module docstring)."""
    root = Path(root or tempfile.mkdtemp(prefix="broker-stress-"))
    root.mkdir(parents=True, exist_ok=True)
    worker_argv = ["-m", "celery", "-A", "atom", "worker", "--pool", "solo", "--queues", QUEUE, "--include", "bench.broker_stress",
                   "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    workers = [_spawn(root, f"consumer-{i}", [*worker_argv, "--hostname", f"stress{i}@%h"]) for i in range(consumers)]
    beat = _spawn(root, "beat", ["-m", "bench.broker_stress", "--beat"])
    started = time.monotonic()
    senders = [
        _spawn(root, f"producer-{i}", ["-m", "bench.broker_stress", "--produce", str(i), "--seconds", str(seconds), "--rate", str(rate)])
        for i in range(producers)
    ]
    for sender in senders:
        sender.wait(seconds + 120)
    _stop(beat)
    crashed = [p for p in (*workers, beat) if p.poll() not in (None, 0, -15)]
    sent = _sent(root)
    beat_sent = (root / "beat.log").read_text(errors="replace").count("Sending due task stress-probe")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_executed(root)) < len(sent) + beat_sent:
        if any(w.poll() is not None for w in workers):
            break
        time.sleep(0.5)
    time.sleep(1)  # a late duplicate would show up here
    alive = [w.poll() is None for w in workers]
    elapsed = time.monotonic() - started
    for worker in workers:
        _stop(worker)
    executed = _executed(root)
    counts = Counter(task_id for _, task_id in executed)
    logs = {path.name: path.read_text(errors="replace") for path in root.glob("*.log") if path.name != "executed.log"}
    crash_lines = [f"{name}: {line}" for name, text in logs.items() for line in text.splitlines() if any(m in line for m in CRASH_MARKS)]
    beat_executed = sum(1 for origin, _ in executed if origin == "beat")
    return {
        "seconds": round(elapsed, 1),
        "producers": producers,
        "consumers": consumers,
        "sent": len(sent),
        "beat_sent": beat_sent,
        "executed": len(executed),
        "beat_executed": beat_executed,
        "lost": len(set(sent) - set(counts)),
        "beat_lost": max(0, beat_sent - beat_executed),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "crashes": len(crashed) + alive.count(False) + len(crash_lines),
        "crash_lines": crash_lines[:20],
        "throughput": round(len(executed) / max(elapsed, 0.001), 1),
        "root": str(root),
    }


def _produce(index: int, seconds: float, rate: float) -> None:
    """Send probes at about ``rate`` per second, with jitter, writing every id sent."""
    import django

    django.setup()
    out = Path(os.environ["ATOM_STRESS_LOG"]).parent / f"sent-{index}.txt"
    deadline = time.monotonic() + seconds
    with out.open("w") as sent:
        while time.monotonic() < deadline:
            result = probe.apply_async(args=(f"p{index}",), queue=QUEUE)
            sent.write(f"{result.id}\n")
            sent.flush()
            time.sleep(random.uniform(0, 2 / rate))


def _beat() -> None:
    """Celery beat sending a probe twice a second, besides the project's own schedule."""
    import django

    django.setup()
    from atom.celery import app

    app.conf.beat_schedule = {"stress-probe": {"task": "bench.probe", "schedule": 0.5, "args": ("beat",), "options": {"queue": QUEUE}}}
    schedule = Path(os.environ["ATOM_STRESS_LOG"]).parent / "beat-schedule"
    app.Beat(loglevel="INFO", schedule=str(schedule), max_interval=1).run()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_stress")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--producers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=40.0, help="messages per second per producer")
    parser.add_argument("--produce", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--beat", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce is not None:
        _produce(args.produce, args.seconds, args.rate)
        return 0
    if args.beat:
        _beat()
        return 0
    figures = stress(seconds=args.seconds, producers=args.producers, rate=args.rate)
    print(json.dumps(figures, indent=2))
    return 0 if figures["lost"] == figures["duplicates"] == figures["crashes"] == figures["beat_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
