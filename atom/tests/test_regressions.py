"""Regression tests for defects found in the platform itself (Atom's own bug catalog)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.tokens import StampedRefreshToken
from atom.testing import script_json_output

REFRESH = "/api/v1/auth/token/refresh/"


@pytest.mark.regression("BUG-001")
@pytest.mark.django_db(transaction=True)
def test_p0_security_refresh_token_replay_regression(user, settings):
    """BUG-001 (P0, security): one refresh token could be spent many times at once.

    simplejwt's refresh serializer checks the blacklist and writes to it in two steps, so eight
    concurrent refreshes with one token all returned new token pairs. Fix: RotatingRefreshSerializer
    locks the outstanding row and lets the unique blacklist row decide (commit 694b998). The defect was
    found by reading simplejwt's serializer before the first commit; with TOKEN_REFRESH_SERIALIZER set
    back to simplejwt's own, this test fails (8 of 8 refreshes succeed).
    """
    settings.ATOM_LOGIN_RATE_PER_IP = "1000/m"
    refresh = str(StampedRefreshToken.for_user(user))

    def attempt(_: int) -> int:
        try:
            return APIClient().post(REFRESH, {"refresh": refresh}, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses.count(200) == 1, statuses


@pytest.mark.regression("BUG-002")
@pytest.mark.django_db
def test_p2_crash_refresh_for_deleted_user_regression(user, api_client):
    """BUG-002 (P2, crash): refreshing a token of a deleted user answered 500 (User.DoesNotExist).

    Fix: RotatingRefreshSerializer looks the user up with filter().first() and answers 401 (commit
    694b998); with simplejwt's own serializer this test fails with a 500.
    """
    refresh = str(StampedRefreshToken.for_user(user))
    user.delete()
    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.regression("BUG-003")
@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, '{"a": ' + "[" * 200 + "]" * 200 + "}"],
    ids=["array-100000", "object-50000", "array-200"],
)
def test_p1_crash_deeply_nested_json_regression(user, client_for, body):
    """BUG-003 (P1, crash): a deeply nested JSON body answered 500 (RecursionError in the parser).

    Any authenticated client could make every write route fail with a 500 and a logged traceback.
    Fix: atom.api.parsers.JSONParser turns a RecursionError into 400 and refuses nesting deeper
    than ATOM_MAX_JSON_DEPTH before any view sees the data.
    """
    response = client_for(user).post("/api/v1/auth/logout/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_REQUEST"


@pytest.mark.regression("BUG-026")
@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["rot13", "base64", "hex", "zlib", "uu", "no-such-charset"])
@pytest.mark.parametrize("route", ["login", "actions"])
def test_p2_crash_unusable_json_charset_regression(user, client_for, route, charset):
    """BUG-026 (P2, crash): an unusable charset in Content-Type answered 500 on every JSON route, even login.

    ``Content-Type: application/json; charset=rot13`` (or base64, hex, zlib, uu, an unknown name)
    made the parser's decode raise LookupError, which it did not catch: 500 INTERNAL_ERROR on
    ``auth/token/`` and ``agents/{id}/actions/`` alike. Fix: the JSON parser answers 415 when the
    body's charset names no text encoding (commit recorded in the catalog).
    """
    from governance.models import ActionExecution
    from governance.tests.factories import make_agent

    if route == "login":
        client, path, body = APIClient(), "/api/v1/auth/token/", {"username": "owner", "password": "correct horse battery staple"}
    else:
        agent = make_agent(owner=user)
        client, path, body = client_for(user), f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "cost": "1.00"}
    client.raise_request_exception = False  # observe the answer a real client got
    response = client.generic("POST", path, json.dumps(body), content_type=f"application/json; charset={charset}")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not ActionExecution.objects.exists()


# Sends five tasks while the broker and result store refuse every connection, counting the connection
# attempts each send makes. Runs in its own interpreter: Celery reads the broker URL once, at start-up.
_OUTAGE_SCRIPT = """
import json, os, socket, threading, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
accepted = [0]
def refuse():
    while True:
        peer, _ = listener.accept()
        accepted[0] += 1
        peer.close()
threading.Thread(target=refuse, daemon=True).start()
url = "redis://127.0.0.1:%d/0" % listener.getsockname()[1]
os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = url
import django
django.setup()
from atom.tasks import ping
calls = []
for _ in range(5):
    before, started = accepted[0], time.monotonic()
    try:
        ping.delay()
        raised = None
    except Exception as exc:
        raised = [cls.__module__ + "." + cls.__name__ for cls in type(exc).__mro__]
    calls.append({"connections": accepted[0] - before, "seconds": time.monotonic() - started, "raised": raised})
print(json.dumps(calls))
"""


@pytest.mark.regression("BUG-023")
def test_p1_cost_leak_broker_outage_retry_storm_regression():
    """BUG-023 (P1, cost leak): with Redis down, every task send retried for about 19 s.

    Each ``.delay()`` reconnected to the result store 20 times (Celery's default retry policy) and then
    raised a bare RuntimeError, which the run route turned into a 500; every request that enqueued
    work held its web worker that long, so an outage of Redis took the whole API down with it. SPEC
    section 3 asks for bounded retries and a circuit breaker. Fix: sends go through one task base
    with a bounded retry policy and a per-process circuit breaker; every failure is a kombu
    OperationalError (so callers answer 503), and once the breaker is open a send fails at once without
    touching the network (commit recorded in the catalog).
    """
    calls = script_json_output(_OUTAGE_SCRIPT, timeout=90, ATOM_BROKER_BREAKER_FAILURES="2")
    assert all(call["raised"] and "kombu.exceptions.OperationalError" in call["raised"] for call in calls), calls
    assert all(call["connections"] <= 6 for call in calls[:2]), calls  # bounded retries while closed
    assert [call["connections"] for call in calls[2:]] == [0, 0, 0], calls  # open: no network at all


@pytest.mark.regression("BUG-041")
@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/api/v1/bugs/BUG-001/results/", "/api/v1/audit/"])
@pytest.mark.parametrize(
    "cursor",
    ["p=abc", "p=99999999999999999999999999", "r=1&p=-99999999999999999999999999", "p=1.5", "p=", "o=-5&p=1"],
)
def test_p2_crash_crafted_pagination_cursor_regression(superuser, client_for, route, cursor):
    """BUG-041 (P2, crash): a crafted pagination cursor answered 500. CursorPagination passed the cursor's
    position straight into an integer filter, so ``?cursor=`` with the base64 of ``p=abc`` or
    ``p=99999999999999999999999999`` failed in the query. Fix: the cursor's position is checked against the
    type and range of the ordering field, and a bad one answers 404 "Invalid cursor" in the error shape,
    as a bad offset already did (commit recorded in the catalog).
    """
    import base64

    from bugs.services.bugs import bug_create

    bug_create(key="BUG-001", title="x", severity="P2")
    response = client_for(superuser).get(route, {"cursor": base64.b64encode(cursor.encode()).decode()})
    assert response.status_code == 404, response.content[:200]
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("NOT_FOUND", "Invalid cursor")
    assert "details" in error


@pytest.mark.regression("BUG-051")
@pytest.mark.django_db
def test_p3_crash_unusable_charset_with_a_query_string_regression():
    """BUG-051 (P3, crash): a charset naming no text encoding, on a request with a query string,
    crashed Django's request object before any of Atom's code ran.

    Django keeps a declared charset that ``codecs.lookup`` knows (rot13, base64, zlib), and setting it
    re-reads the query string with it, which raises LookupError while the request is being built: the
    WSGI server answered its own bare 500, outside the error shape. Fix: Atom's WSGI handler builds
    requests that leave such a charset to the JSON parser, which answers 415 (commit recorded in the catalog).
    """
    import io

    from atom.wsgi import application

    body = b'{"username": "u", "password": "p"}'
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/auth/token/", "QUERY_STRING": "next=1", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": "application/json; charset=rot13", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
    }  # fmt: skip
    answered: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        answered.append(status)
        return lambda data: None

    content = b"".join(application(environ, start_response))
    assert answered == ["415 Unsupported Media Type"]
    assert json.loads(content)["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
