"""factory_boy factories for governance rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model

from governance.models import Agent, AgentState, Canvas, CanvasKind, Maturity

TIER_CONFIDENCE = {
    Maturity.STUDENT: Decimal("0.4000"),
    Maturity.INTERN: Decimal("0.6000"),
    Maturity.SUPERVISED: Decimal("0.8000"),
    Maturity.AUTONOMOUS: Decimal("0.9500"),
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class AgentFactory(factory.django.DjangoModelFactory):
    """An active agent; its confidence sits inside the band of its maturity."""

    class Meta:
        model = Agent

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"agent-{n}")
    maturity = Maturity.STUDENT
    state = AgentState.ACTIVE
    budget = Decimal("100.00")
    daily_spend_cap = Decimal("10.00")

    @factory.lazy_attribute
    def confidence(self) -> Decimal:
        return TIER_CONFIDENCE[self.maturity]


class CanvasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Canvas

    agent = factory.SubFactory(AgentFactory)
    kind = CanvasKind.MARKDOWN
    title = "A canvas"
    content = "Hello"


def agent_of(tier: str, **kwargs: Any) -> Agent:
    """An agent of the given tier."""
    return AgentFactory(maturity=tier, **kwargs)
