"""Permissions of the governance API."""

from __future__ import annotations

from typing import Any

from atom.api.permissions import FailClosedPermission
from atom.principals import acting_agent_id
from governance.models import Agent, AgentState


class AgentPrincipalIsActive(FailClosedPermission):
    """A token acting as an agent works only while that agent is active: a paused or stopped agent can
    neither act, nor ingest, nor read through its own token (its owner's own token still reads it).

    A default permission of the API, so every route an agent principal can reach is covered, not only the
    governed actions. Read from the database on each request, like maturity: a pause takes effect at once.
    """

    message = "This agent is paused or stopped: its own token can do nothing until it is resumed."

    def allowed(self, request: Any, view: Any) -> bool:
        agent_id = acting_agent_id(request)
        return agent_id is None or Agent.objects.filter(pk=agent_id, state=AgentState.ACTIVE).exists()
