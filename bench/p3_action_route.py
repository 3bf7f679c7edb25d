"""P3: ``POST agents/{id}/actions/`` end to end over real HTTP, against a bare authenticated DRF GET on the
same server, measured side by side in one run.

A gunicorn server (one sync worker) runs on a free port of 127.0.0.1 against the bench database. The action
request pays JWT verification, the user load, the per-agent rate limit, the decision, a budget charge, the
execution row and the audit row. Baselines: ``GET agents/{id}/`` (JWT, user load, one read) and an unknown
API path (JWT, user load, nothing else). A fresh connection per request for all three (gunicorn's sync
worker closes each one), interleaved so machine noise falls on all alike.

Then under load: a second server with one sync worker per core, driven by as many client processes as it
has workers (started here, each posting actions back to back on its own connection per request); the
target is p99 <= 3x p50 over every loaded request, so that contention (the agent row's budget charge,
the database's write lock) shows up as a tail.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from bench.harness import BASE_DIR, Result, median, percentile

ID = "P3"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env() -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "atom.settings",
            "ATOM_ENV": "test",
            "ATOM_VAR_DIR": str(settings.VAR_DIR),
            # Measure the limiter's cost, not its refusals.
            "ATOM_GOVERNANCE_ACTION_RATE": "100000000/h",
            "ATOM_WRITE_RATE_PER_USER": "100000000/m",
        }
    )
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["ATOM_SQLITE_PATH"] = str(db["NAME"])
    else:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return env


def _request(port: int, method: str, path: str, token: str, body: bytes | None = None) -> tuple[int, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, (time.perf_counter() - start) * 1000


def _server_start(port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "atom.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    server = subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=BASE_DIR, env=_server_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if _request(port, "GET", "/healthz", "")[0] == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            _server_stop(server)
            raise RuntimeError(f"the gunicorn server did not start; see {log}")
        time.sleep(0.2)


def _server_stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def _drive(port: int, path: str, token: str, body: bytes, count: int) -> list[float]:
    """One load process: ``count`` action requests back to back; each one's latency in ms."""
    samples = []
    for _ in range(count):
        status, elapsed = _request(port, "POST", path, token, body)
        if status != 200:
            raise RuntimeError(f"a loaded action answered {status}")
        samples.append(elapsed)
    return samples


def _loaded(*, path: str, token: str, body: bytes, count: int, log: Path) -> tuple[int, list[float]]:
    """Latencies of the action route with one client process per server worker, all at once."""
    workers = max(2, os.cpu_count() or 2)
    port = _free_port()
    server = _server_start(port, workers, log)
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            # A short warm-up per worker first (imports, connections), not counted.
            pool.starmap(_drive, [(port, path, token, body, 10)] * workers)
            per_process = pool.starmap(_drive, [(port, path, token, body, count)] * workers)
    finally:
        _server_stop(server)
    return workers, [sample for samples in per_process for sample in samples]


def run(scale: float) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from atom.testing import access_token_for
    from governance.models import Agent, AuditEntry, Maturity

    user = get_user_model().objects.create_user(username="bench-p3", password="bench-password-123")
    agent = Agent.objects.create(
        owner=user,
        name="bench",
        maturity=Maturity.AUTONOMOUS,
        confidence=Decimal("0.95"),
        budget=Decimal("1000000"),
        daily_spend_cap=Decimal("1000000"),
    )
    token = access_token_for(user)
    port = _free_port()
    log = Path(os.environ.get("ATOM_VAR_DIR", BASE_DIR / "var")) / "p3-gunicorn.log"
    server = _server_start(port, 1, log)
    try:
        body = json.dumps({"action": "read", "params": {"q": "bench"}, "cost": "0.01"}).encode()
        calls = {
            "action": lambda: _request(port, "POST", f"/api/v1/agents/{agent.pk}/actions/", token, body),
            "detail": lambda: _request(port, "GET", f"/api/v1/agents/{agent.pk}/", token),
            "bare": lambda: _request(port, "GET", "/api/v1/bench-unknown/", token),
        }
        expected = {"action": 200, "detail": 200, "bare": 404}
        samples: dict[str, list[float]] = {name: [] for name in calls}
        count = max(100, int(1000 * scale))
        for index in range(count + 30):
            for name, call in calls.items():
                status, elapsed = call()
                if status != expected[name]:
                    raise RuntimeError(f"{name} answered {status}")
                if index >= 30:
                    samples[name].append(elapsed)
        assert AuditEntry.objects.filter(agent=agent).count() == count + 30
    finally:
        _server_stop(server)
    path = f"/api/v1/agents/{agent.pk}/actions/"
    per_process = max(50, int(300 * scale))
    workers, loaded = _loaded(path=path, token=token, body=body, count=per_process, log=log.with_name("p3-gunicorn-loaded.log"))
    # Every loaded request was governed and audited like any other.
    assert AuditEntry.objects.filter(agent=agent).count() == count + 30 + workers * (per_process + 10)
    database = connection.vendor
    action, detail, bare = (median(samples[name]) for name in ("action", "detail", "bare"))
    return [
        Result(ID, "action route p50 vs bare authenticated GET", action, "ms", "ratio <= 2.0", bare, action / bare, database, scale),
        Result(ID, "action route p50 vs GET agents/{id}/", action, "ms", "(info)", detail, action / detail, database, scale),
        Result(
            ID,
            "action route p95",
            percentile(samples["action"], 95),
            "ms",
            "(info)",
            percentile(samples["bare"], 95),
            None,
            database,
            scale,
        ),
        Result(
            ID,
            f"action route p99 vs p50, {workers} processes at once",
            percentile(loaded, 99),
            "ms",
            "ratio <= 3.0",
            median(loaded),
            percentile(loaded, 99) / median(loaded),
            database,
            scale,
        ),
    ]
