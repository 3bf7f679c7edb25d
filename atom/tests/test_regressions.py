"""Regression tests for defects found in the platform itself (Atom's own bug catalog)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

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
    refresh = str(RefreshToken.for_user(user))

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
    refresh = str(RefreshToken.for_user(user))
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
