"""Every failure answers in the one error shape, with the right status and no internals."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("atom.tests.urls_with_faults")]


def assert_error_shape(response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"].isupper()
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_401_without_a_token(api_client):
    response = api_client.get("/api/v1/no-such-route/")
    assert_error_shape(response, 401, "NOT_AUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_404_for_an_unknown_api_path(client_for, user):
    assert_error_shape(client_for(user).get("/api/v1/nothing/here/"), 404, "NOT_FOUND")


def test_405_for_an_undeclared_method(client_for, user):
    assert_error_shape(client_for(user).get("/fault/echo/"), 405, "METHOD_NOT_ALLOWED")


def test_415_for_a_wrong_content_type(client_for, user):
    response = client_for(user).post("/fault/echo/", data="a=1", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_400_for_malformed_json(client_for, user):
    response = client_for(user).post("/fault/echo/", data='{"a": ', content_type="application/json")
    assert_error_shape(response, 400, "MALFORMED_REQUEST")


def test_valid_json_reaches_the_view(client_for, user):
    response = client_for(user).post("/fault/echo/", {"b": 1, "a": 2}, format="json")
    assert response.json() == {"keys": ["a", "b"]}


def test_413_for_a_body_over_the_limit(client_for, user, settings):
    settings.ATOM_MAX_BODY_BYTES = 2048
    response = client_for(user).post("/fault/echo/", data='{"a": "' + "x" * 4096 + '"}', content_type="application/json")
    error = assert_error_shape(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"limit_bytes": 2048}


def test_413_even_before_authentication(api_client, settings):
    settings.ATOM_MAX_BODY_BYTES = 2048
    response = api_client.post("/api/v1/auth/token/", data='{"username": "' + "x" * 4096 + '"}', content_type="application/json")
    assert_error_shape(response, 413, "PAYLOAD_TOO_LARGE")


def test_500_is_generic_and_names_no_internals(client_for, user):
    client = client_for(user)
    client.raise_request_exception = False
    response = client.get("/fault/explode/")
    error = assert_error_shape(response, 500, "INTERNAL_ERROR")
    text = response.content.decode()
    assert "passwd" not in text
    assert "DATABASE_URL" not in text
    assert "Traceback" not in text
    assert error["message"] == "An unexpected error occurred."


@override_settings(DEBUG=False)
def test_django_level_404_under_the_api_is_json(client):
    response = client.get("/healthz/extra")
    assert_error_shape(response, 404, "NOT_FOUND")


def test_429_carries_retry_after(api_client, settings):
    settings.ATOM_LOGIN_RATE_PER_IP = "2/m"
    for _ in range(2):
        api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json")
    response = api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json")
    error = assert_error_shape(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(response["Retry-After"])


def test_page_size_above_the_maximum_is_clamped():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from atom.api.pagination import PageNumberPagination

    request = Request(APIRequestFactory().get("/x/?page_size=100000"))
    assert PageNumberPagination().get_page_size(request) == 200


def test_503_when_the_broker_is_down_at_enqueue(client_for, user):
    response = client_for(user).post("/fault/broker-down/", {}, format="json")
    error = assert_error_shape(response, 503, "SERVICE_UNAVAILABLE")
    assert "6379" not in error["message"]


def test_writes_are_limited_per_user(client_for, user, other_user, settings):
    settings.ATOM_WRITE_RATE_PER_USER = "2/m"
    client = client_for(user)
    statuses = [client.post("/fault/echo/", {"a": 1}, format="json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/v1/no-such-route/").status_code == 404
    assert client_for(other_user).post("/fault/echo/", {"a": 1}, format="json").status_code == 200
