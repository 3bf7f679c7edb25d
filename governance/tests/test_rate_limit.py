"""The per-agent action rate limit."""

from __future__ import annotations

import pytest
from django.test import override_settings

from governance.models import ActionExecution, AuditEntry, Decision
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


@override_settings(GOVERNANCE_ACTION_RATE="3/h")
def test_actions_beyond_the_per_agent_limit_answer_429_and_run_nothing(client_for):
    agent = make_agent()
    client = client_for(agent.owner)
    for _ in range(3):
        assert client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json").status_code == 200
    response = client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    assert ActionExecution.objects.count() == 3
    assert AuditEntry.objects.latest("id").outcome == Decision.RATE_LIMITED


@override_settings(GOVERNANCE_ACTION_RATE="1/h")
def test_the_limit_is_per_agent_and_foreign_callers_do_not_spend_it(client_for, other_user):
    agent, sibling = make_agent(), make_agent()
    for _ in range(3):
        client_for(other_user).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json")
    assert client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read"}, format="json").status_code == 200
    assert client_for(sibling.owner).post(f"/api/v1/agents/{sibling.pk}/actions/", {"action": "read"}, format="json").status_code == 200
