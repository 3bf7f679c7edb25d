"""The world the route-walking suites act in: an operator who owns something behind every route."""

from __future__ import annotations

from typing import Any

import pytest

from atom.testing import api_client_for
from governance.models import Maturity
from governance.tests.factories import AgentFactory


@pytest.fixture
def world(django_user_model: Any, settings: Any) -> dict[str, Any]:
    """A superuser operator who owns an agent of every tier, a pending proposal, a canvas and a bug.

    ``path`` fills every path parameter of the schema with one of them.
    """
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
    suite = client.post("/api/v1/suites/", {"name": "fuzz-suite"}, format="json").json()
    return {
        "client": client,
        "operator": operator,
        "agent_id": autonomous.pk,
        "path": {
            "agent_id": autonomous.pk,
            "proposal_id": proposal["proposal"]["id"],
            "canvas_id": canvas["id"],
            "key": bug["key"],
            "slug": "atom",
            "provider": "github",
            "name": suite["name"],
        },
    }
