"""Login is limited per client IP and per username; the limiter cannot be dodged and fails closed."""

from __future__ import annotations

import pytest

from atom.ratelimit import client_ip

pytestmark = pytest.mark.django_db
LOGIN = "/api/v1/auth/token/"


def login(api_client, username: str, **extra):
    return api_client.post(LOGIN, {"username": username, "password": "wrong"}, format="json", **extra)


def test_it_limits_logins_per_ip(api_client, settings):
    settings.ATOM_LOGIN_RATE_PER_IP = "3/m"
    statuses = [login(api_client, f"user{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_it_limits_logins_per_username_across_ips(api_client, settings):
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "2/m"
    statuses = [login(api_client, "Victim", REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(1, 4)]
    assert statuses == [401, 401, 429]


def test_username_case_does_not_reset_the_count(api_client, settings):
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "1/m"
    assert login(api_client, "victim").status_code == 401
    assert login(api_client, "VICTIM", REMOTE_ADDR="10.9.9.9").status_code == 429


def test_a_rotated_x_forwarded_for_does_not_reset_the_count(api_client, settings):
    settings.ATOM_LOGIN_RATE_PER_IP = "2/m"
    statuses = [login(api_client, f"u{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(3)]
    assert statuses == [401, 401, 429]


def test_the_configured_proxy_header_is_the_only_one_trusted(rf, settings):
    settings.ATOM_TRUSTED_PROXY_HEADER = "X-Real-IP"
    request = rf.get("/", HTTP_X_REAL_IP="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4", REMOTE_ADDR="10.0.0.1")
    assert client_ip(request) == "198.51.100.7"
    settings.ATOM_TRUSTED_PROXY_HEADER = ""
    assert client_ip(request) == "10.0.0.1"


def test_a_successful_login_still_counts(api_client, user, settings):
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "1/m"
    ok = api_client.post(LOGIN, {"username": "owner", "password": "correct horse battery staple"}, format="json")
    assert ok.status_code == 200
    assert login(api_client, "owner").status_code == 429


def test_the_limiter_fails_closed_when_the_cache_is_unreachable(api_client, monkeypatch):
    from django.core.cache import caches

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(caches["default"], "add", unreachable)
    response = login(api_client, "anyone")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "RATE_LIMIT_UNAVAILABLE"


@pytest.mark.regression("BUG-028")
def test_p3_crash_lone_surrogate_login_username_regression(api_client, caplog):
    """BUG-028 (P3, crash): a login username holding a lone surrogate answered 503 RATE_LIMIT_UNAVAILABLE.

    Hashing the per-username limiter key raised UnicodeEncodeError, and the limiter's catch-all reported
    it as the cache being down. Fix: the JSON parser refuses lone surrogates with a 400 (BUG-025), and the
    limiter answers 503 only for errors of the cache itself, so a bug is no longer reported as an outage
    (commit recorded in the catalog).
    """
    api_client.raise_request_exception = False  # observe the answer a real client got
    body = '{"username": "\\ud800", "password": "x"}'
    response = api_client.generic("POST", LOGIN, body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert "Rate-limit cache unavailable" not in caplog.text


@pytest.mark.regression("BUG-028")
def test_p3_crash_limiter_bug_not_reported_as_cache_outage_regression(api_client, monkeypatch):
    """BUG-028, the root cause: any exception inside the limiter was reported as the cache being down.

    The lone surrogate itself is refused by the JSON parser since BUG-025's fix; this pins the limiter's
    own part. Fix: only OSError and Redis errors are an outage (503); anything else is a bug, a 500
    (commit recorded in the catalog).
    """
    from django.core.cache import caches

    def broken(*args, **kwargs):
        raise TypeError("a programming error, not an outage")

    monkeypatch.setattr(caches["default"], "add", broken)
    api_client.raise_request_exception = False
    response = login(api_client, "anyone")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"


@pytest.mark.redis
def test_the_limiter_fails_closed_when_redis_is_down(api_client, settings):
    # Django resets its cache handlers when CACHES changes, so this points the limiter at a dead port.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = login(api_client, "anyone")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "RATE_LIMIT_UNAVAILABLE"


@pytest.mark.regression("BUG-035")
def test_p2_security_numeric_username_login_limit_regression(api_client, django_user_model, settings):
    """BUG-035 (P2, security): a username sent as a JSON number skipped the per-username login limit.

    The limiter only counted string usernames, while the login serializer turns 12345 into "12345" and
    authenticates with it: 15 wrong passwords from 15 addresses for user "12345" all answered 401, never
    429. Fix: the limiter counts any scalar username by its text, as the serializer reads it (commit
    recorded in the catalog).
    """
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "10/m"
    django_user_model.objects.create_user(username="12345", password="correct horse battery staple")
    statuses = [
        api_client.post(LOGIN, {"username": 12345, "password": "wrong"}, format="json", REMOTE_ADDR=f"10.1.0.{i}").status_code
        for i in range(1, 16)
    ]
    assert statuses == [401] * 10 + [429] * 5
    assert login(api_client, "12345", REMOTE_ADDR="10.1.0.99").status_code == 429
