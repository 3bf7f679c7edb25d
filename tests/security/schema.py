"""Atom's own OpenAPI schema, for the suites that walk every route of the API.

Reading the routes from the schema means a route is covered by every suite the day it is added.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

WRITE_METHODS = ("post", "put", "patch", "delete")
# Valid values for the fields a body needs before the one under test gets past "this field is required".
VALID: dict[str, Any] = {"action": "search", "cost": "0", "kind": "html", "severity": "P3", "title": "fuzz", "positive": True}


@functools.cache
def _schema_text() -> str:
    return OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)).decode()


def openapi_schema() -> dict[str, Any]:
    """A fresh copy of the generated schema (callers may mutate it; schemathesis does)."""
    return dict(json.loads(_schema_text()))


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].split("/")[-1]]
    return node


def write_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every write operation of the schema."""
    schema = openapi_schema()
    return [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in WRITE_METHODS
    ]


def json_body_shape(operation: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]] | None:
    """(required fields, writable properties) of an operation's JSON body, or None when it takes none."""
    schema = openapi_schema()
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return None
    shape = resolve(schema, body["schema"])
    properties = {name: resolve(schema, prop) for name, prop in shape.get("properties", {}).items() if not prop.get("readOnly")}
    return list(shape.get("required", [])), properties


def valid_value(name: str, prop: dict[str, Any], *, agent_id: int) -> Any:
    if name in VALID:
        return VALID[name]
    if name == "agent":
        return agent_id
    if "enum" in prop:
        return prop["enum"][0]
    return {"string": "fuzz", "integer": 1, "number": 1, "boolean": True, "array": []}.get(prop.get("type", ""), {})


def valid_body(required: list[str], properties: dict[str, dict[str, Any]], *, agent_id: int) -> dict[str, Any]:
    """A body holding a valid value for each required field."""
    return {name: valid_value(name, properties[name], agent_id=agent_id) for name in required if name in properties}
