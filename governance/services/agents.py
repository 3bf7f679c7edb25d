"""Agents: creation, the safe fields an owner may change, funds, and tokens that act as one agent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from atom.errors import DomainError, NotFoundError
from atom.principals import ACTING_AGENT_CLAIM
from governance.models import (
    Agent,
    Maturity,
)
from governance.selectors import AGENT_NOT_FOUND

ZERO = Decimal("0")
FOUR_PLACES = Decimal("0.0001")


# --- Agents ------------------------------------------------------------------------------------


def agent_create(*, owner: Any, name: str, category: str = "", capabilities: list[str] | None = None) -> Agent:
    """A new agent: STUDENT at the configured starting confidence, no budget, the default daily cap."""
    return Agent.objects.create(
        owner=owner,
        name=name,
        category=category,
        capabilities=capabilities or [],
        maturity=Maturity.STUDENT,
        confidence=Decimal(str(settings.GOVERNANCE_INITIAL_CONFIDENCE)).quantize(FOUR_PLACES),
        daily_spend_cap=Decimal(settings.GOVERNANCE_DAILY_SPEND_CAP),
    )


def agent_update(*, agent: Agent, name: str | None = None, category: str | None = None, capabilities: list[str] | None = None) -> Agent:
    """Change the safe fields of an agent (never maturity, confidence, owner, state or budget)."""
    fields = {"name": name, "category": category, "capabilities": capabilities}
    changed = [key for key, value in fields.items() if value is not None]
    for key in changed:
        setattr(agent, key, fields[key])
    if changed:
        agent.save(update_fields=[*changed, "updated_at"])
    return agent


def agent_funds_set(*, agent_id: int, budget: Decimal, daily_spend_cap: Decimal) -> None:
    """An operator sets an agent's budget and daily cap (never possible through the API)."""
    if budget < ZERO or daily_spend_cap < ZERO:
        raise DomainError("Budget and daily cap cannot be negative.", code="VALIDATION_ERROR")
    if not Agent.objects.filter(pk=agent_id).update(budget=budget, daily_spend_cap=daily_spend_cap):
        raise NotFoundError(AGENT_NOT_FOUND)


# --- Agent principals ---------------------------------------------------------------------------


def agent_token_issue(*, owner: Any, agent: Agent) -> str:
    """An access token for the agent's runtime: it acts as this agent only, and as an agent principal it may
    never decide proposals, give feedback or mint further tokens."""
    if agent.owner_id != owner.pk:
        raise NotFoundError(AGENT_NOT_FOUND)
    token = AccessToken.for_user(owner)
    token[ACTING_AGENT_CLAIM] = agent.pk
    return str(token)
