"""``/healthz``: cheap, public and time-bounded; ``/healthz?deep=1``: every service with its latency.

Each check runs on a small, fixed pool of threads and the answer waits at most
``ATOM_HEALTH_TIMEOUT_SECONDS`` for them: a service that hangs (a black hole, not a refused
connection) makes the answer 503 in time instead of holding the request until a proxy gives up
(BUG-084). The pool is bounded, so a hung service can tie up a few threads but never pile them up;
a check that is still waiting when its turn comes again simply counts as down. The database check
opens and closes its own connection, so the connect timeout of the settings bounds it.

The deep check (database, cache, broker, workers) is for operators: a user with the
``atom.view_health`` permission, or a request bearing ``ATOM_HEALTH_TOKEN`` in the
``X-Atom-Health-Token`` header. Never "a local address": behind a proxy every request is one.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, JsonResponse

from atom.api.errors import error_json

logger = logging.getLogger("atom.health")

HEALTH_PERMISSION = "atom.view_health"
TOKEN_HEADER = "HTTP_X_ATOM_HEALTH_TOKEN"  # noqa: S105  # nosec B105 - the name of a header, not a secret

_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="atom-health")

Check = Callable[[], dict[str, Any]]


def _database() -> dict[str, Any]:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        # A connection kept by this thread could be the one that hangs next time; a fresh one is
        # bounded by the connect timeout.
        connection.close()
    return {}


def _cache(backend: Any, *, deep: bool) -> Check:
    def check() -> dict[str, Any]:
        if deep:
            key = f"atom:healthz:{uuid.uuid4().hex}"
            backend.set(key, 1, timeout=10)
            if backend.get(key) != 1:
                raise RuntimeError("the cache did not return what was just written")
            backend.delete(key)
        else:
            backend.get("atom:healthz")
        return {}

    return check


def _broker() -> dict[str, Any]:
    from atom.celery import app
    from atom.queues import queue_backlog

    # A round trip that declares nothing: the length of the default queue (every virtual transport,
    # Redis and the embedded one, answers it) and the age of its oldest message.
    return queue_backlog(app, settings.CELERY_TASK_DEFAULT_QUEUE)


def _workers() -> dict[str, Any]:
    from atom.celery import app

    # Waits the whole timeout for answers; it has to end before the health answer's own deadline.
    replies = app.control.ping(timeout=max(0.2, settings.ATOM_HEALTH_TIMEOUT_SECONDS * 0.6)) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError("no worker answered")
    return {"workers": names}


def _timed(check: Check) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        started = time.monotonic()
        details = check()
        return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1), **details}

    return run


def health_report(*, deep: bool) -> dict[str, dict[str, Any]]:
    """Run the checks in parallel and return each one's outcome, waiting no longer than the health timeout."""
    checks: dict[str, Check] = {"database": _database, "cache": _cache(caches["default"], deep=deep)}
    if deep:
        checks.update({"broker": _broker, "workers": _workers})
    return checks_run(checks)


def broker_backlog() -> dict[str, Any]:
    """The admin's view of the broker: queued tasks and the oldest one's age, or "unavailable" in time.

    Bounded like every health check: a broker that is down or hangs costs the page at most the health
    timeout, never a hang.
    """
    return checks_run({"broker": _broker})["broker"]


def checks_run(checks: dict[str, Check]) -> dict[str, dict[str, Any]]:
    """Run ``checks`` on the health pool; each answers ok with its latency, "unavailable" or "timeout" in time."""
    futures: dict[str, Future[dict[str, Any]]] = {name: _pool.submit(_timed(check)) for name, check in checks.items()}
    deadline = time.monotonic() + settings.ATOM_HEALTH_TIMEOUT_SECONDS
    report: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        try:
            report[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            logger.warning("Health check: %s did not answer within %.1f s", name, settings.ATOM_HEALTH_TIMEOUT_SECONDS)
            report[name] = {"status": "timeout"}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            logger.warning("Health check: %s unavailable (%s)", name, type(exc).__name__)
            report[name] = {"status": "unavailable", "error": type(exc).__name__}
    return report


def _may_see_deep(request: HttpRequest) -> bool:
    token = settings.ATOM_HEALTH_TOKEN
    offered = request.META.get(TOKEN_HEADER, "")
    if token and offered and hmac.compare_digest(offered.encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.has_perm(HEALTH_PERMISSION))


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every check is ok, else 503 with what failed; ``?deep=1`` for operators adds broker and workers."""
    deep = request.GET.get("deep") in ("1", "true", "yes")
    if deep and not _may_see_deep(request):
        return error_json(403, "PERMISSION_DENIED", "The deep health check needs the health permission or the health token.")
    report = health_report(deep=deep)
    checks = {name: outcome["status"] if outcome["status"] != "timeout" else "unavailable" for name, outcome in report.items()}
    body: dict[str, Any] = {"status": "ok", "checks": checks}
    if deep:
        body["details"] = report
    if all(value == "ok" for value in checks.values()):
        return JsonResponse(body)
    details: dict[str, Any] = {"checks": checks, **({"details": report} if deep else {})}
    return error_json(503, "SERVICE_UNAVAILABLE", "A dependency is unavailable.", details)
