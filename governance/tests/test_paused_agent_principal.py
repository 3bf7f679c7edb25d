"""A paused or stopped agent cannot act, ingest or read through its own token; its owner can still read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from episodes.models import Interaction
from governance.models import AgentState, Maturity
from governance.services.decision import action_map_seed
from governance.services.maturity import agent_state_set
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def agent_client(owner_client: APIClient, agent_id: int) -> APIClient:
    token = owner_client.post(f"/api/v1/agents/{agent_id}/token/", {}, format="json").json()["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def batch() -> dict[str, Any]:
    moment = (timezone.now() - timedelta(minutes=5)).isoformat()
    return {"interactions": [{"session_id": "s-1", "role": "agent", "content": "still here", "timestamp": moment}]}


@pytest.mark.regression("BUG-095")
@pytest.mark.parametrize("state", [AgentState.PAUSED, AgentState.STOPPED])
def test_p2_security_paused_agent_token_still_ingests_regression(client_for, state):
    """BUG-095 (P2, security): a paused agent's own token still ingested interactions (202): only the
    governed actions looked at the agent's state. A paused or stopped agent is denied everything through
    its own token: ingest, act and read."""
    action_map_seed()
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    owner = client_for(agent.owner)
    runtime = agent_client(owner, agent.pk)
    agent_state_set(agent_id=agent.pk, state=state)

    with mock.patch("episodes.tasks.episode_segment_task.delay"):
        ingest = runtime.post(f"/api/v1/agents/{agent.pk}/interactions/", batch(), format="json")
    assert ingest.status_code == 403, ingest.content
    assert Interaction.objects.count() == 0
    assert runtime.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "search"}, format="json").status_code == 403
    assert runtime.get(f"/api/v1/agents/{agent.pk}/").status_code == 403
    assert runtime.get(f"/api/v1/agents/{agent.pk}/episodes/", {"mode": "temporal"}).status_code == 403

    # Its owner still reads it.
    reading = owner.get(f"/api/v1/agents/{agent.pk}/")
    assert reading.status_code == 200
    assert reading.json()["state"] == state


def test_an_active_agent_token_still_works(client_for):
    action_map_seed()
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    runtime = agent_client(client_for(agent.owner), agent.pk)
    with mock.patch("episodes.tasks.episode_segment_task.delay"):
        assert runtime.post(f"/api/v1/agents/{agent.pk}/interactions/", batch(), format="json").status_code == 202
    assert runtime.get(f"/api/v1/agents/{agent.pk}/").status_code == 200
