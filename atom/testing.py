"""Helpers for tests across the apps: API clients with tokens, and real Celery worker processes.

Not a test module itself; the root conftest turns these into fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string
from rest_framework.test import APIClient
from rest_framework_simplejwt.settings import api_settings as jwt_settings

BASE_DIR = Path(settings.BASE_DIR)


def access_token_for(user: Any) -> str:
    """A fresh, valid access token for the user, issued as sign-in issues it (with every claim it carries)."""
    return str(import_string(jwt_settings.TOKEN_OBTAIN_SERIALIZER).get_token(user).access_token)


def api_client_for(user: Any | None = None) -> APIClient:
    """An APIClient that sends the user's bearer token (or none)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def script_json_output(script: str, *, timeout: float, **env: str) -> Any:
    """Run ``script`` in a fresh interpreter under the test settings and return the JSON on its last line.

    For what must start from a clean process (Celery reads its broker once, at start-up). REDIS_URL is
    left out, so the script picks its own broker and result store.
    """
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "atom.settings_test", **env}
    environment.pop("REDIS_URL", None)
    finished = subprocess.run(  # noqa: S603  # nosec B603 - this interpreter, on a script of the test's own
        [sys.executable, "-c", script], env=environment, cwd=BASE_DIR, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def worker_env(**overrides: str) -> dict[str, str]:
    """The environment a worker process needs to share this test run's database, broker and cache."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "atom.settings_test",
            "ATOM_VAR_DIR": str(settings.VAR_DIR),
            "ATOM_CACHE_PREFIX": settings.CACHE_KEY_PREFIX,
            "ATOM_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "PYTHONUNBUFFERED": "1",
        }
    )
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["ATOM_SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        if db.get("PASSWORD"):
            env["DATABASE_URL"] = env["DATABASE_URL"].replace("@", f":{db['PASSWORD']}@", 1)
    env.update(overrides)
    return env


def worker_start(
    *, concurrency: int = 1, pool: str = "solo", log_path: Path | None = None, queue: str = "", **env: str
) -> subprocess.Popen[bytes]:
    """Start a real `celery worker` process on ``queue`` (this run's default queue); the caller stops it.

    The worker sends the tasks it starts itself to the same queue.
    """
    queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    env.setdefault("ATOM_CELERY_QUEUE", queue)
    log_file = open(log_path or (Path(settings.VAR_DIR) / f"worker-{time.monotonic_ns()}.log"), "wb")  # noqa: SIM115
    command = [
        sys.executable, "-m", "celery", "-A", "atom", "worker",
        "--pool", pool, "--concurrency", str(concurrency),
        "--queues", queue,
        "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"test-{time.monotonic_ns()}@%h",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=BASE_DIR, env=worker_env(**env), stdout=log_file, stderr=subprocess.STDOUT)  # noqa: S603


@contextlib.contextmanager
def tasks_sent_to(queue: str) -> Iterator[None]:
    """Send this process's tasks to ``queue`` inside the block, for a worker started with other settings.

    Celery builds its queue declarations once, from the default queue of the first send; a declaration built
    inside the block would send every later task to a queue no worker reads. They are built again on entry
    and on exit, so the block leaves no trace.
    """
    from atom.celery import app

    def rebuild() -> None:
        for cached in ("queues", "default_queue", "router", "send_task_message"):
            app.amqp.__dict__.pop(cached, None)

    # Only the override is undone: setting back the value read here would pin the queue for good, and the
    # value may itself be read through from Django's settings, which a test's ``settings`` fixture changes.
    changes: dict[str, Any] = app.conf.changes or {}
    overridden = "task_default_queue" in changes
    previous = changes.get("task_default_queue")
    app.conf.task_default_queue = queue
    rebuild()
    try:
        yield
    finally:
        if overridden:
            changes["task_default_queue"] = previous
        else:
            changes.pop("task_default_queue", None)
        rebuild()


def worker_drain(queue: str, *, timeout: float = 60) -> None:
    """Wait until the worker on ``queue`` has run every task sent to it, and those they sent in turn.

    A ping goes in behind what is queued; once it is answered and nothing is queued behind it, the
    worker (one at a time, in order) is idle. Tasks held back with a countdown are not waited for.
    """
    from atom.celery import app
    from atom.queues import queue_backlog

    deadline = time.monotonic() + timeout
    while True:
        app.send_task("atom.ping", queue=queue).get(timeout=max(1.0, deadline - time.monotonic()))
        if not queue_backlog(app, queue)["queued"]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for the worker on {queue} to go idle")


def queue_purge(queue: str) -> None:
    """Drop every task waiting on ``queue``."""
    from atom.celery import app

    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        channel.queue_purge(queue)


def worker_stop(process: subprocess.Popen[bytes], *, timeout: float = 15) -> None:
    """Stop a worker started by worker_start, warm shutdown first."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_until(predicate: Any, *, timeout: float = 30, interval: float = 0.1, message: str = "condition") -> None:
    """Poll ``predicate`` until it is truthy or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
