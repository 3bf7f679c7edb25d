"""PostgreSQL or Redis turning into a black hole: health checks and the API answer 503 quickly, never hang.

Each case runs Atom in a fresh interpreter whose DATABASE_URL or REDIS_URL points at a proxy the test
starts in front of the real service: first it forwards (Atom answers 200), then it swallows everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from django.conf import settings

from atom.testing import access_token_for
from atom.tests.blackhole import TcpProxy

# Asks /healthz once while the proxy forwards, then black-holes it (signal: a line on stdin) and times
# /healthz and one API call that needs the failed service.
_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
def timed(method, path, **extra):
    started = time.monotonic()
    response = getattr(client, method)(path, **extra)
    return {"status": response.status_code, "seconds": round(time.monotonic() - started, 3)}
before = timed("get", "/healthz")
print("READY", flush=True)
sys.stdin.readline()
api = sys.argv[1]
if api == "login":
    call = lambda: timed("post", "/api/v1/auth/token/", data={"username": "u", "password": "p"}, content_type="application/json")
else:
    call = lambda: timed("get", "/api/v1/agents/", HTTP_AUTHORIZATION="Bearer " + sys.argv[2])
print(json.dumps({"before": before, "healthz": timed("get", "/healthz"), "api": call()}), flush=True)
"""


def _run_through(proxy: TcpProxy, api: str, token: str, **env: str) -> dict[str, dict[str, float]]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "atom.settings_test", **env}
    child = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, api, token], cwd=settings.BASE_DIR, env=environment,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        line = child.stdout.readline()
        assert line.startswith("READY"), line + (child.stderr.read() if child.stderr else "")
        proxy.black_hole()
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.regression("BUG-084")
@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.timeout(120)
def test_p1_infrastructure_database_black_hole_hangs_every_request_regression(user):
    """BUG-084 (P1, infrastructure): a PostgreSQL that hangs (a black hole, not a refused connection) hung
    ``/healthz`` and every request until gunicorn killed its workers after 30 s.

    There was no connect timeout, and the health check waited for the database in the request itself.
    Here the database turns into a black hole behind a proxy: ``/healthz`` must answer 503 within 2 s,
    and an authenticated API call (which reads the user) 503 within a few seconds.
    """
    real = urlparse(os.environ["DATABASE_URL"])
    with TcpProxy((real.hostname or "127.0.0.1", real.port or 5432)) as proxy:
        url = real._replace(netloc=f"{real.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()
        figures = _run_through(proxy, "agents", access_token_for(user), DATABASE_URL=url)
    assert figures["before"]["status"] == 200, figures
    assert figures["healthz"]["status"] == 503, figures
    assert figures["healthz"]["seconds"] < 2.0, figures
    assert figures["api"]["status"] == 503, figures
    assert figures["api"]["seconds"] < 5.0, figures


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.timeout(120)
def test_a_redis_black_hole_gives_503_from_healthz_in_time_and_a_fast_answer_from_the_api(user):
    real = urlparse(os.environ["REDIS_URL"])
    with TcpProxy((real.hostname or "127.0.0.1", real.port or 6379)) as proxy:
        url = real._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        figures = _run_through(proxy, "login", "", REDIS_URL=url, CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    assert figures["before"]["status"] == 200, figures
    assert figures["healthz"]["status"] == 503, figures
    assert figures["healthz"]["seconds"] < 2.0, figures
    # The login limiter needs the cache: it fails closed, after one bounded wait.
    assert figures["api"]["status"] in (429, 503), figures
    assert figures["api"]["seconds"] < 5.0, figures
