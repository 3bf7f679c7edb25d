"""Agent principals: access tokens that act as one agent of their owner (the ``act_as_agent`` claim).

Such a token authenticates as the owner but is confined to that one agent: every agent-scoped route
treats any other agent as not found, and it never carries the owner's staff or app permissions.
"""

from __future__ import annotations

from typing import Any

ACTING_AGENT_CLAIM = "act_as_agent"


def acting_agent_id(request: Any) -> int | None:
    """The agent a request's token acts as (an agent principal), or None for a human's token or session."""
    token = getattr(request, "auth", None)
    value = token.get(ACTING_AGENT_CLAIM) if token is not None and hasattr(token, "get") else None
    return int(value) if value is not None else None
