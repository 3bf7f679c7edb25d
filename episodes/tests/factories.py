"""factory_boy factories for the episodes tests: interaction inputs; agents come from governance's factories."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from factory.base import Factory
from factory.declarations import LazyFunction, Sequence

from episodes.models import AgentSession, Episode, Role
from episodes.services.ingestion import InteractionInput, interactions_ingest
from episodes.services.segmenting import episode_segment
from governance.models import Agent
from governance.tests.factories import make_agent

__all__ = ["conversation", "episode_from", "make_agent", "make_input"]


class InteractionInputFactory(Factory[InteractionInput]):
    class Meta:
        model = InteractionInput

    session_id = "s-1"
    role = Role.USER
    content = Sequence(lambda n: f"please check the deploy pipeline step {n}")
    timestamp = LazyFunction(lambda: timezone.now() - timedelta(days=1))
    metadata = LazyFunction(dict)


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
