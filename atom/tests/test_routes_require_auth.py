"""Deny by default: every route in the URLconf, walked automatically, refuses an anonymous caller."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC = {"/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/healthz", "/favicon.ico"}
# Push webhooks carry no token: the provider signs them with the project's secret (bugs/tests/test_webhooks.py).
SIGNED = {"/api/v1/projects/sample/webhooks/BUG-001/"}
SAMPLE_VALUES = {"int": "1", "str": "BUG-001", "slug": "sample", "uuid": "00000000-0000-0000-0000-000000000001", "path": "x/y"}


def _concrete(pattern: str) -> str:
    """Turn a route pattern into a concrete path: converters get sample values, regex bits are dropped."""
    pattern = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m.group(1) or "str", "1"), pattern)
    pattern = re.sub(r"\(\?P<\w+>[^)]*\)", "1", pattern)
    return re.sub(r"[\^$?]|\\.|\.\*", "", pattern)


def walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = prefix + _concrete(str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        else:
            yield "/" + route


ALL_ROUTES = sorted(set(walk(get_resolver().url_patterns)))
API_ROUTES = [r for r in ALL_ROUTES if r not in PUBLIC | SIGNED and not r.startswith("/admin/") and not r.startswith("/static/")]
ADMIN_ROUTES = [r for r in ALL_ROUTES if r.startswith("/admin/") and r not in {"/admin/login/", "/admin/logout/"}]


def test_the_walk_finds_the_platform_routes():
    assert {"/api/v1/auth/logout/", "/api/v1/schema/", "/api/v1/docs/"} <= set(API_ROUTES)
    assert set(ALL_ROUTES) >= SIGNED


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_the_signed_webhook_route_refuses_an_unsigned_caller(api_client, method):
    """No token is asked for, but nothing is accepted without the project's signature: an unknown project is
    a 404 and GET and the other methods are refused, all in the error shape."""
    response = getattr(api_client, method)("/api/v1/projects/sample/webhooks/github/", {}, format="json")
    assert response.status_code in (404, 405), (method, response.status_code)
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.django_db
@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_every_api_route_answers_401_without_a_token(api_client, route, method):
    response = getattr(api_client, method)(route, {}, format="json")
    assert response.status_code == 401, (route, method, response.status_code)
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


@pytest.mark.django_db
@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_every_admin_route_sends_an_anonymous_caller_to_login(client, route):
    response = client.get(route)
    assert response.status_code in {302, 404}, (route, response.status_code)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_health_check_is_public_and_reports_dependencies(api_client):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


@pytest.mark.django_db
def test_health_check_reports_503_when_the_cache_is_down(api_client, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", broken)
    response = api_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"]["cache"] == "unavailable"


@pytest.mark.django_db
def test_docs_and_schema_are_served_to_a_signed_in_user_with_local_assets(client_for, user):
    client = client_for(user)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


@pytest.mark.django_db
def test_docs_need_the_schema_permission_in_production(client_for, user, staff_user, settings):
    from django.contrib.auth.models import Permission

    settings.PRODUCTION = True
    assert client_for(user).get("/api/v1/docs/").status_code == 403
    assert client_for(staff_user).get("/api/v1/docs/").status_code == 403, "being staff grants nothing"
    user.user_permissions.add(Permission.objects.get(codename="view_api_schema"))
    assert client_for(type(user).objects.get(pk=user.pk)).get("/api/v1/docs/").status_code == 200
