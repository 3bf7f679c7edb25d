"""factory_boy factories for governance rows, with typed helpers for the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory, Password

from governance.models import Agent, AgentState, Canvas, CanvasKind, Maturity

TIER_CONFIDENCE = {
    Maturity.STUDENT: Decimal("0.4000"),
    Maturity.INTERN: Decimal("0.6000"),
    Maturity.SUPERVISED: Decimal("0.8000"),
    Maturity.AUTONOMOUS: Decimal("0.9500"),
}


class UserFactory(DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()

    username = Sequence(lambda n: f"user{n}")
    password = Password("correct horse battery staple")


class AgentFactory(DjangoModelFactory[Agent]):
    """An active agent with budget; its confidence sits inside the band of its maturity."""

    class Meta:
        model = Agent

    owner = SubFactory(UserFactory)
    name = Sequence(lambda n: f"agent-{n}")
    maturity = Maturity.STUDENT
    state = AgentState.ACTIVE
    budget = Decimal("100.00")
    daily_spend_cap = Decimal("10.00")
    confidence = LazyAttribute(lambda agent: TIER_CONFIDENCE[agent.maturity])


class CanvasFactory(DjangoModelFactory[Canvas]):
    class Meta:
        model = Canvas

    agent = SubFactory(AgentFactory)
    kind = CanvasKind.MARKDOWN
    title = "A canvas"
    content = "Hello"


def make_user(**kwargs: Any) -> User:
    return cast(User, UserFactory.create(**kwargs))


def make_agent(**kwargs: Any) -> Agent:
    """An agent (STUDENT unless ``maturity`` says otherwise)."""
    return AgentFactory.create(**kwargs)


def make_canvas(**kwargs: Any) -> Canvas:
    return CanvasFactory.create(**kwargs)
