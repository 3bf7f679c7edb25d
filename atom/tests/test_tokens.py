"""Every platform token case of QUALITY part B: forged, expired, misdirected and revoked tokens → 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.tokens import StampedRefreshToken, user_token_stamp

PROTECTED = "/api/v1/no-such-route/"  # any authenticated route: 404 once authenticated, 401 before
JWT_SETTINGS: dict[str, Any] = settings.SIMPLE_JWT
SIGNING_KEY: str = JWT_SETTINGS["SIGNING_KEY"]


def claims(user: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user.pk),
        "aud": JWT_SETTINGS["AUDIENCE"],
        "iss": JWT_SETTINGS["ISSUER"],
        "stamp": user_token_stamp(user=user),
    }
    for key, value in overrides.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def status_with(token: str) -> int:
    client = APIClient()
    return client.get(PROTECTED, HTTP_AUTHORIZATION=f"Bearer {token}").status_code


def sign(payload: dict[str, Any], *, key: str = SIGNING_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


@pytest.mark.django_db
def test_a_well_formed_token_authenticates(user):
    assert status_with(sign(claims(user))) == 404


@pytest.mark.django_db
def test_it_rejects_alg_none(user):
    token = jwt.encode(claims(user), None, algorithm="none")
    assert status_with(token) == 401


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_it_rejects_an_algorithm_other_than_hs256(user, algorithm):
    assert status_with(sign(claims(user), algorithm=algorithm)) == 401


@pytest.mark.django_db
def test_it_rejects_a_payload_edited_under_the_old_signature(user, other_user):
    header, _, signature = sign(claims(user)).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(other_user)).encode()).rstrip(b"=").decode()
    assert status_with(f"{header}.{forged}.{signature}") == 401


@pytest.mark.django_db
def test_it_rejects_a_token_signed_with_another_key(user):
    assert status_with(sign(claims(user), key="another-key-that-is-long-enough-to-be-valid-hs256")) == 401


@pytest.mark.django_db
def test_it_rejects_a_token_signed_with_the_secret_key(user):
    assert status_with(sign(claims(user), key=settings.SECRET_KEY)) == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("expired beyond leeway", {"exp": int(time.time()) - 120}),
        ("missing exp", {"exp": None}),
        ("nbf in the future", {"nbf": int(time.time()) + 600}),
        ("iat in the future", {"iat": int(time.time()) + 600}),
        ("wrong aud", {"aud": "someone-else"}),
        ("missing aud", {"aud": None}),
        ("wrong iss", {"iss": "evil"}),
        ("missing iss", {"iss": None}),
        ("iss that merely contains ours", {"iss": f"{JWT_SETTINGS['ISSUER']}.evil.example"}),
        ("iss that is a prefix of ours", {"iss": JWT_SETTINGS["ISSUER"][:-1]}),
        ("missing jti", {"jti": None}),
        ("missing token_type", {"token_type": None}),
        ("refresh token_type", {"token_type": "refresh"}),
        ("missing user", {"user_id": None}),
        ("unknown user", {"user_id": "987654321"}),
    ],
)
def test_it_rejects_bad_claims(user, case, overrides):
    assert status_with(sign(claims(user, **overrides))) == 401, case


@pytest.mark.django_db
def test_a_refresh_token_is_not_a_bearer_token(user):
    assert status_with(str(StampedRefreshToken.for_user(user))) == 401


@pytest.mark.django_db
def test_an_access_token_cannot_be_refreshed(user, api_client):
    access = str(StampedRefreshToken.for_user(user).access_token)
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh": access}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["token", "access_token", "jwt", "access"])
def test_a_token_in_the_query_string_never_authenticates(user, api_client, param):
    access = str(StampedRefreshToken.for_user(user).access_token)
    assert api_client.get(f"{PROTECTED}?{param}={access}").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["access", "access_token", "token", "Authorization", "jwt"])
def test_a_token_in_a_cookie_never_authenticates(user, api_client, cookie):
    api_client.cookies[cookie] = str(StampedRefreshToken.for_user(user).access_token)
    assert api_client.get(PROTECTED).status_code == 401


@pytest.mark.django_db
def test_a_user_deactivated_after_issue_is_refused_on_the_next_request(user, client_for):
    client = client_for(user)
    assert client.get(PROTECTED).status_code == 404
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(PROTECTED).status_code == 401


@pytest.mark.django_db
def test_a_user_deleted_after_issue_is_refused_on_the_next_request(user, client_for):
    client = client_for(user)
    user.delete()
    assert client.get(PROTECTED).status_code == 401


@pytest.mark.django_db
def test_a_deleted_users_refresh_token_is_refused_not_a_crash(user, api_client):
    refresh = str(StampedRefreshToken.for_user(user))
    user.delete()
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_login_issues_a_pair_that_works(user, api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "owner", "password": "correct horse battery staple"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    decoded = jwt.decode(body["access"], SIGNING_KEY, algorithms=["HS256"], audience="atom-api", issuer="atom")
    assert decoded["exp"] - decoded["iat"] <= 15 * 60
    assert status_with(body["access"]) == 404


@pytest.mark.django_db
def test_a_wrong_password_gets_401_in_the_error_shape(user, api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "owner", "password": "wrong"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.django_db
def test_refresh_rotates_and_the_old_refresh_token_is_dead(user, api_client):
    refresh = str(StampedRefreshToken.for_user(user))
    first = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert first.status_code == 200
    assert first.json()["refresh"] != refresh
    reused = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert reused.status_code == 401
    rotated = api_client.post("/api/v1/auth/token/refresh/", {"refresh": first.json()["refresh"]}, format="json")
    assert rotated.status_code == 200


@pytest.mark.django_db
def test_logout_kills_the_refresh_token(user, client_for, api_client):
    refresh = str(StampedRefreshToken.for_user(user))
    assert client_for(user).post("/api/v1/auth/logout/", {"refresh": refresh}, format="json").status_code == 204
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 401


@pytest.mark.django_db
def test_logout_cannot_revoke_another_users_token(user, other_user, client_for, api_client):
    refresh = str(StampedRefreshToken.for_user(other_user))
    response = client_for(user).post("/api/v1/auth/logout/", {"refresh": refresh}, format="json")
    assert response.status_code == 404
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 200


@pytest.mark.django_db
def test_logout_needs_authentication(user, api_client):
    refresh = str(StampedRefreshToken.for_user(user))
    assert api_client.post("/api/v1/auth/logout/", {"refresh": refresh}, format="json").status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_with_one_token_at_most_one_succeeds(user, settings):
    assert connection.vendor == "postgresql"
    settings.ATOM_LOGIN_RATE_PER_IP = "1000/m"

    refresh = ""

    def attempt(_: int) -> int:
        try:
            return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code
        finally:
            connection.close()

    for _round in range(5):
        refresh = str(StampedRefreshToken.for_user(user))
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(attempt, range(8)))
        assert statuses.count(200) == 1, statuses
        assert set(statuses) <= {200, 401}, statuses
