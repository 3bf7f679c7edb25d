"""Demotion takes effect on the very next request, whatever tokens are outstanding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.models import Maturity
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_feedback_below_the_floor_refuses_the_next_request_with_the_same_token(client_for):
    agent = make_agent(maturity=Maturity.INTERN, confidence=Decimal("0.5500"))
    client = client_for(agent.owner)
    assert client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "draft"}, format="json").status_code == 200

    feedback = client.post(f"/api/v1/agents/{agent.pk}/feedback/", {"positive": False, "high_impact": True}, format="json")
    assert feedback.status_code == 201
    assert feedback.json()["agent"]["maturity"] == Maturity.STUDENT

    response = client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "draft"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MATURITY_INSUFFICIENT"


def test_a_pause_applies_to_the_next_request_even_after_a_cached_decision(client_for):
    from governance.services.maturity import agent_state_set

    agent = make_agent()
    client = client_for(agent.owner)
    assert client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json").status_code == 200
    agent_state_set(agent_id=agent.pk, state="paused")
    assert client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json").json()["error"]["code"] == "AGENT_INACTIVE"
