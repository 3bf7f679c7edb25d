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

from governance.models import Agent
from tests.security.payloads import RawJSON, corpus
from tests.security.schema import json_body_shape, valid_body, write_operations

PAYLOADS = corpus()
# Script in a stored HTML field: a script element, an event-handler attribute, or a javascript:/data: URL
# in an attribute. The same words as plain text are harmless and allowed.
DANGEROUS_MARKUP = re.compile(
    r"<\s*(script|iframe|object|embed|style)\b|<[^>]*\son\w+\s*=|<[^>]*\b(href|src|action|formaction|data)\s*=\s*[\"']?\s*(javascript|data|vbscript):",
    re.IGNORECASE,
)
HTML_FIELDS = {"content"}


def _write_fields() -> list[tuple[str, str, str, list[str], dict[str, Any]]]:
    """(method, path, field, required fields, properties) for every JSON body field of every write route."""
    found: list[tuple[str, str, str, list[str], dict[str, Any]]] = []
    for method, path, operation in write_operations():
        shape = json_body_shape(operation)
        if method == "delete" or shape is None:
            continue
        required, properties = shape
        found.extend((method, path, field, required, properties) for field in properties)
    return found


WRITE_FIELDS = _write_fields()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "field", "required", "properties"), WRITE_FIELDS, ids=[f"{m}:{p}:{f}" for m, p, f, *_ in WRITE_FIELDS]
)
def test_no_hostile_payload_breaks_a_write_route(world, method, path, field, required, properties):
    client = world["client"]
    url = path.format(**world["path"])
    base = valid_body(required, properties, agent_id=world["agent_id"])
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


MALFORMED_BODIES = {
    "nested-5000": ('{"a": ' * 5_000 + "1" + "}" * 5_000, "application/json"),
    "lone-surrogate": ('{"title": "\\ud800"}', "application/json"),
    "overflowing-number": ('{"cost": 1e400}', "application/json"),
    "rot13-charset": ("{}", "application/json; charset=rot13"),
    "not-json": ("{'a': 1,}", "application/json"),
}
# Every write route that reads a body, whatever body type it declares (routes taking none ignore it).
ALL_WRITES = [(method, path) for method, path, operation in write_operations() if "requestBody" in operation]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ALL_WRITES, ids=[f"{m}:{p}" for m, p in ALL_WRITES])
def test_every_write_route_refuses_malformed_json_bodies(world, method, path):
    """Whatever body type a route declares, a malformed JSON body is a 4xx in the error shape (BUG-052)."""
    client = world["client"]
    url = path.format(**world["path"])
    failures = []
    for name, (body, content_type) in MALFORMED_BODIES.items():
        response = client.generic(method.upper(), url, body, content_type=content_type)
        if not 400 <= response.status_code < 500 or set(response.json().get("error", {})) != {"code", "message", "details"}:
            failures.append(f"{name}: {response.status_code}")
    assert failures == []
