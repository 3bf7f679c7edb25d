"""schemathesis over Atom's own OpenAPI schema: every operation, authenticated, in process.

Generated requests must never produce a 5xx, documented responses must match the schema, and
removing the credentials must never leave an operation answering as if they were there.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth, not_a_server_error, response_schema_conformance

from atom.wsgi import application
from tests.security.schema import openapi_schema

schema = schemathesis.openapi.from_dict(openapi_schema())
schema.app = application


@pytest.fixture
def bearer(django_user_model: Any) -> dict[str, str]:
    from atom.testing import access_token_for

    user = django_user_model.objects.create_superuser(username="fuzzer", password="fuzz-password-123", email="f@example.com")
    return {"Authorization": f"Bearer {access_token_for(user)}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_survives_generated_input(case: Any, bearer: dict[str, str], settings_override: None) -> None:
    case.call_and_validate(headers=bearer, checks=[not_a_server_error, response_schema_conformance, ignored_auth])


@pytest.fixture
def settings_override(settings: Any) -> None:
    # Generated traffic is far above any human rate; the limits themselves are tested elsewhere.
    settings.ATOM_WRITE_RATE_PER_USER = "100000/m"
    settings.ATOM_LOGIN_RATE_PER_IP = "100000/m"
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "100000/m"
