"""Every payload of the hostile corpus, into every field of every JSON write route.

The routes and their fields are read from Atom's own OpenAPI schema, so a new route is covered the
day it is added. Each request gets a body that is valid apart from the one hostile field, so the
payload travels as deep as validation lets it. Whatever happens: never a 5xx, every refusal in the
error shape, nothing that renders as HTML stored with script in it, and no agent's tier, confidence or
budget moved by a payload.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from atom.testing import api_client_for
from governance.models import Agent, Maturity
from governance.tests.factories import AgentFactory
from tests.security.payloads import RawJSON, corpus

PAYLOADS = corpus()
# Valid values for the fields a body needs before a hostile one can get past "this field is required".
VALID: dict[str, Any] = {"action": "search", "cost": "0", "kind": "html", "severity": "P3", "title": "fuzz", "positive": True}
# Script in a stored HTML field: a script element, an event-handler attribute, or a javascript:/data: URL
# in an attribute. The same words as plain text are harmless and allowed.
DANGEROUS_MARKUP = re.compile(
    r"<\s*(script|iframe|object|embed|style)\b|<[^>]*\son\w+\s*=|<[^>]*\b(href|src|action|formaction|data)\s*=\s*[\"']?\s*(javascript|data|vbscript):",
    re.IGNORECASE,
)
HTML_FIELDS = {"content"}


def _schema() -> dict[str, Any]:
    return dict(json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].split("/")[-1]]
    return node


def _write_fields() -> list[tuple[str, str, str, list[str], dict[str, Any]]]:
    """(method, path, field, required fields, properties) for every JSON body field of every write route."""
    schema = _schema()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in ("post", "put", "patch") or body is None:
                continue
            shape = _resolve(schema, body["schema"])
            properties = {name: _resolve(schema, prop) for name, prop in shape.get("properties", {}).items() if not prop.get("readOnly")}
            for field in properties:
                found.append((method, path, field, list(shape.get("required", [])), properties))
    return found


WRITE_FIELDS = _write_fields()


def _valid_value(name: str, prop: dict[str, Any], world: dict[str, Any]) -> Any:
    if name in VALID:
        return VALID[name]
    if name == "agent":
        return world["agent_id"]
    if "enum" in prop:
        return prop["enum"][0]
    return {"string": "fuzz", "integer": 1, "number": 1, "boolean": True, "array": []}.get(prop.get("type", ""), {})


@pytest.fixture
def world(django_user_model: Any, settings: Any) -> dict[str, Any]:
    """An operator who owns an agent of every tier, a pending proposal, a canvas and a bug."""
    settings.ATOM_WRITE_RATE_PER_USER = "1000000/m"
    settings.ATOM_LOGIN_RATE_PER_IP = "1000000/m"
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "1000000/m"
    settings.GOVERNANCE_ACTION_RATE = "1000000/h"
    operator = django_user_model.objects.create_superuser(username="fuzzer", password="fuzz-password-123", email="f@example.com")
    client = api_client_for(operator)
    agents = {tier: AgentFactory.create(owner=operator, maturity=tier) for tier in Maturity.values}
    autonomous = agents[Maturity.AUTONOMOUS]
    proposal = client.post(f"/api/v1/agents/{agents[Maturity.INTERN].pk}/actions/", {"action": "create"}, format="json").json()
    canvas = client.post("/api/v1/canvases/", {"agent": autonomous.pk, "kind": "html", "content": "<p>x</p>"}, format="json").json()
    bug = client.post("/api/v1/bugs/", {"title": "fuzz target", "severity": "P3"}, format="json").json()
    return {
        "client": client,
        "agent_id": autonomous.pk,
        "path": {
            "agent_id": autonomous.pk,
            "proposal_id": proposal["proposal"]["id"],
            "canvas_id": canvas["id"],
            "key": bug["key"],
        },
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "field", "required", "properties"), WRITE_FIELDS, ids=[f"{m}:{p}:{f}" for m, p, f, *_ in WRITE_FIELDS]
)
def test_no_hostile_payload_breaks_a_write_route(world, method, path, field, required, properties):
    client = world["client"]
    url = path.format(**world["path"])
    base = {name: _valid_value(name, properties[name], world) for name in required if name in properties}
    before = list(Agent.objects.order_by("pk").values_list("pk", "maturity", "confidence", "budget"))
    failures = []
    for payload_id, payload in PAYLOADS:
        payload_text = str(payload) if isinstance(payload, RawJSON) else json.dumps(payload)
        body = json.dumps({**base, field: "__PAYLOAD__"}).replace('"__PAYLOAD__"', payload_text)
        response = client.generic(method.upper(), url, body, content_type="application/json")
        if response.status_code >= 500:
            failures.append(f"{payload_id}: {response.status_code}")
            continue
        if response.status_code >= 400:
            error = response.json().get("error", {})
            if set(error) != {"code", "message", "details"}:
                failures.append(f"{payload_id}: {response.status_code} without the error shape")
        elif field in HTML_FIELDS:
            stored = response.json()
            if field not in stored:
                failures.append(f"{payload_id}: the answer does not show the stored {field}")
            elif match := DANGEROUS_MARKUP.search(str(stored[field] or "")):
                failures.append(f"{payload_id}: stored {match.group(0)!r}")
    assert failures == [], failures[:20]
    after = list(Agent.objects.order_by("pk").values_list("pk", "maturity", "confidence", "budget"))
    moved = [(b, a) for b, a in zip(before, after, strict=False) if b[:3] != a[:3] or a[3] < Decimal(0)]
    if not path.endswith(("/feedback/", "/actions/")):
        assert moved == [], moved
    assert all(row[3] >= 0 for row in after)


def test_the_corpus_is_large_enough_and_every_route_is_reached():
    assert len(PAYLOADS) >= 200
    routes = {(method, path) for method, path, *_ in WRITE_FIELDS}
    assert len(routes) >= 12, routes
