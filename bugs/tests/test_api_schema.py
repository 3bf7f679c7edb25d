"""The bugs API's answers match what its OpenAPI schema declares, field by field, nulls included."""

from __future__ import annotations

from typing import Any

import pytest

from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.factories import make_run
from tests.security.schema import openapi_schema, resolve

pytestmark = pytest.mark.django_db


def _undeclared_nulls(schema: dict[str, Any], shape: dict[str, Any], value: Any, where: str) -> list[str]:
    """Paths in ``value`` holding None where ``shape`` does not declare the field nullable."""
    shape = resolve(schema, shape)
    if isinstance(value, dict):
        found = []
        for name, item in value.items():
            prop = shape.get("properties", {}).get(name)
            if prop is None:
                continue
            prop = resolve(schema, prop) if "$ref" in prop else prop
            if item is None and not prop.get("nullable"):
                found.append(f"{where}.{name}")
            found.extend(_undeclared_nulls(schema, prop, item, f"{where}.{name}"))
        return found
    if isinstance(value, list) and "items" in shape:
        return [path for index, item in enumerate(value) for path in _undeclared_nulls(schema, shape["items"], item, f"{where}[{index}]")]
    return []


def _response_shape(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"])


@pytest.mark.regression("BUG-010")
def test_p3_quality_nullable_bug_fields_declared_nullable_regression(staff_user, client_for):
    """BUG-010 (P3, quality): the OpenAPI schema declared a bug's assignee and duplicate_of as never null.

    The answers carried null for a bug with no assignee, duplicate, reporter or result, and for a run
    nobody triggered, while the schema promised strings, so generated clients broke on them
    (schemathesis' response conformance check found it). Fix: those output fields are declared
    ``allow_null`` (commit 275cc7d).
    """
    bug_link_test(bug=bug_create(key="BUG-001", title="no one on it", severity="P2"), node_id="tests/test_a.py::test_a")
    run = make_run(triggered_by=None)
    client = client_for(staff_user)
    schema = openapi_schema()
    bug = client.get("/api/v1/bugs/BUG-001/")
    run_answer = client.get(f"/api/v1/runs/{run.pk}/")
    assert bug.status_code == run_answer.status_code == 200
    assert bug.json()["assignee"] is None
    assert bug.json()["regression_tests"][0]["latest_outcome"] is None
    assert run_answer.json()["triggered_by"] is None
    undeclared = _undeclared_nulls(schema, _response_shape(schema, "/api/v1/bugs/{key}/"), bug.json(), "bug")
    undeclared += _undeclared_nulls(schema, _response_shape(schema, "/api/v1/runs/{id}/"), run_answer.json(), "run")
    assert undeclared == []
