"""factory_boy factories for the episodes tests: agents (governance rows) and interaction inputs."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.base import Factory
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory, Password

from episodes.models import AgentSession, Episode, Role
from episodes.services import InteractionInput, episode_segment, interactions_ingest
from governance.models import Agent, AgentState, Maturity

TIER_CONFIDENCE = {
    Maturity.STUDENT: Decimal("0.4000"),
    Maturity.INTERN: Decimal("0.6000"),
    Maturity.SUPERVISED: Decimal("0.8000"),
    Maturity.AUTONOMOUS: Decimal("0.9500"),
}


class UserFactory(DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()

    username = Sequence(lambda n: f"memory-user-{n}")
    password = Password("correct horse battery staple")


class AgentFactory(DjangoModelFactory[Agent]):
    """An active agent whose confidence sits inside the band of its maturity."""

    class Meta:
        model = Agent

    owner = SubFactory(UserFactory)
    name = Sequence(lambda n: f"memory-agent-{n}")
    maturity = Maturity.STUDENT
    state = AgentState.ACTIVE
    budget = Decimal("100.00")
    confidence = LazyAttribute(lambda agent: TIER_CONFIDENCE[agent.maturity])


class InteractionInputFactory(Factory[InteractionInput]):
    class Meta:
        model = InteractionInput

    session_id = "s-1"
    role = Role.USER
    content = Sequence(lambda n: f"please check the deploy pipeline step {n}")
    timestamp = LazyFunction(lambda: timezone.now() - timedelta(days=1))
    metadata = LazyFunction(dict)


def make_agent(**kwargs: Any) -> Agent:
    """An agent (STUDENT unless ``maturity`` says otherwise)."""
    return AgentFactory.create(**kwargs)


def make_input(**kwargs: Any) -> InteractionInput:
    """One interaction of an ingestion batch."""
    return InteractionInputFactory.build(**kwargs)


def conversation(
    *, start: datetime | None = None, contents: list[str], gap: timedelta = timedelta(minutes=1), session_id: str = "s-1", **kwargs: Any
) -> list[InteractionInput]:
    """Interactions with the given contents, ``gap`` apart, alternating user and agent."""
    start = start or timezone.now() - timedelta(days=1)
    return [
        make_input(
            session_id=session_id, content=text, timestamp=start + index * gap, role=Role.USER if index % 2 == 0 else Role.AGENT, **kwargs
        )
        for index, text in enumerate(contents)
    ]


def episode_from(agent: Agent, items: list[InteractionInput]) -> Episode:
    """Ingest the items for the agent and segment their session at once (no worker)."""
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=items)
    session = AgentSession.objects.get(agent=agent, key=items[0].session_id)
    episode = episode_segment(session_pk=session.pk)
    assert episode is not None
    return episode
