"""Every authenticated write route of the API, read from the schema, counts against its user's write limit.

QUALITY part B asks for limits on login and on agent actions; those live beside their code
(``atom/tests/test_login_rate_limit.py``, ``governance/tests/test_rate_limit.py``). This suite makes
the general promise route by route: once a user has spent ``ATOM_WRITE_RATE_PER_USER``, any further
write answers 429 with ``Retry-After`` in the error shape and changes nothing — so a route added
tomorrow with its own ``throttle_classes`` is caught the day it lands. Login and refresh are not
here: they are anonymous and limited per IP and per username instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps

from atom.testing import api_client_for
from tests.security.schema import json_body_shape, valid_body, write_operations

# No user: the token routes have their own limits per IP and username, the signed push webhooks theirs per IP.
ANONYMOUS_ROUTES = {"/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/projects/{slug}/webhooks/{provider}/"}
OPERATIONS = [(method, path, operation) for method, path, operation in write_operations() if path not in ANONYMOUS_ROUTES]


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _body(operation: dict[str, Any], agent_id: int) -> str:
    shape = json_body_shape(operation)
    return json.dumps(valid_body(*shape, agent_id=agent_id) if shape else {})


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[f"{m}:{p}" for m, p, _ in OPERATIONS])
def test_every_write_route_counts_against_the_users_write_limit(world, settings, method, path, operation):
    settings.ATOM_WRITE_RATE_PER_USER = "1/h"
    client = world["client"]
    # The one allowed write is spent on a refused body: a write counts whether or not it is valid.
    spent = client.post("/api/v1/agents/", {}, format="json")
    assert spent.status_code == 400, spent.content
    before = _row_counts()

    url, body = path.format(**world["path"]), _body(operation, world["agent_id"])
    response = client.generic(method.upper(), url, body, content_type="application/json")

    assert response.status_code == 429, (response.status_code, response.content[:300])
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    assert _row_counts() == before


@pytest.mark.django_db
def test_the_write_limit_is_per_user_and_reads_are_not_counted(world, settings, django_user_model):
    settings.ATOM_WRITE_RATE_PER_USER = "1/h"
    client = world["client"]
    assert client.post("/api/v1/agents/", {}, format="json").status_code == 400
    assert client.post("/api/v1/agents/", {"name": "late"}, format="json").status_code == 429
    assert [client.get(url).status_code for url in ("/api/v1/agents/", "/api/v1/bugs/", "/api/v1/canvases/")] == [200, 200, 200]
    stranger = django_user_model.objects.create_user(username="stranger", password="stranger-password-123")
    assert api_client_for(stranger).post("/api/v1/agents/", {"name": "mine"}, format="json").status_code == 201


def test_every_authenticated_write_route_is_walked():
    routes = {path for _, path, _ in OPERATIONS}
    assert {"/api/v1/agents/", "/api/v1/agents/{agent_id}/actions/", "/api/v1/auth/logout/"} <= routes
    assert len(OPERATIONS) >= 15, sorted(routes)


@pytest.mark.django_db
def test_push_webhooks_count_against_their_per_ip_limit_before_the_body_is_read(settings, client):
    from bugs.models import WebhookDelivery
    from bugs.services.projects import project_create
    from bugs.tests.test_webhooks import deliver, github_push

    settings.ATOM_WEBHOOK_RATE_PER_IP = "1/h"
    project_create(slug="tiny", name="Tiny", webhook_secret="s3cr3t-0f-the-tiny-project-hooks")
    assert deliver(client, "github", github_push(), delivery="first").status_code == 200
    before = _row_counts()
    response = deliver(client, "github", github_push(), delivery="second")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    assert _row_counts() == before
    assert WebhookDelivery.objects.count() == 1
    other = deliver(client, "github", github_push(), delivery="third", headers={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200, "the limit is per client address"
