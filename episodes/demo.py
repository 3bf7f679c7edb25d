"""Demo data for `seed_demo`: sessions for the demo agents, and a large corpus on request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from episodes.models import (
    AgentSession,
    Episode,
    Outcome,
    Role,
    Segment,
)
from episodes.services.ingestion import InteractionInput, _interactions_insert, _metadata_json, interactions_ingest
from episodes.services.segmenting import SEGMENT_WRITE_BATCH, _index_version_bump, episode_segment
from governance.selectors import agent_list_for_owner

# --- Demo data ----------------------------------------------------------------------------------

_DEMO_TOPICS: list[tuple[str, list[str]]] = [
    (
        "deploy the billing service",
        ["deploy billing service staging", "billing deploy rollout canary", "deploy billing service production"],
    ),
    ("investigate the flaky login test", ["login test flaky timeout", "flaky login test retry", "login test token expiry flaky"]),
    ("plan the database migration", ["database migration plan index", "migration database lock table", "database migration rollback plan"]),
]


# How many times --large repeats the demo topics per agent (20 x 3 topics = 60 sessions per agent).
DEMO_LARGE_REPEAT = 20


def _demo_items(*, key: str, title: str, lines: list[str], at: datetime) -> list[InteractionInput]:
    items = [InteractionInput(session_id=key, role=Role.USER, content=f"Please {title}.", timestamp=at)]
    for step, line in enumerate(lines):
        items.append(
            InteractionInput(session_id=key, role=Role.AGENT, content=f"Working on it: {line}.", timestamp=at + timedelta(minutes=step + 1))
        )
        items.append(
            InteractionInput(session_id=key, role=Role.TOOL, content=f"tool output: {line} ok", timestamp=at + timedelta(minutes=step + 2))
        )
    items.append(
        InteractionInput(
            session_id=key,
            role=Role.AGENT,
            content=f"Done: {title}.",
            timestamp=at + timedelta(minutes=10),
            metadata={"outcome": Outcome.SUCCESS, "interventions": 0, "constitutional_score": 0.9},
        )
    )
    return items


def demo_data_seed(*, large: bool, stdout: TextIO, large_repeat: int = DEMO_LARGE_REPEAT) -> None:
    """Episodes for the demo agents that governance's seeder created (owner "demo"). Idempotent: a
    session that already has interactions is left alone.

    ``large`` repeats the topics ``large_repeat`` times per agent and writes each agent's new sessions
    in one batch (see _demo_sessions_bulk), with a progress bar over the agents on ``stdout``.
    """
    owner = get_user_model().objects.filter(username="demo").first()
    if owner is None:
        stdout.write("episodes: no demo owner yet; run the governance seeder first.\n")
        return
    sessions = 0
    start = timezone.now() - timedelta(days=2)
    agents = list(agent_list_for_owner(owner=owner))
    if large:
        for agent in tqdm(agents, desc="episodes", unit="agent", file=stdout, mininterval=0.5):
            sessions += _demo_sessions_bulk(agent_id=agent.pk, start=start, repeat=large_repeat)
        stdout.write(f"episodes: {sessions} demo sessions ingested and segmented.\n")
        return
    for agent in agents:
        for index, (title, lines) in enumerate(_DEMO_TOPICS):
            key = f"demo-{index}"
            if AgentSession.objects.filter(agent=agent, key=key).exists():
                continue
            items = _demo_items(key=key, title=title, lines=lines, at=start + timedelta(hours=index))
            interactions_ingest(actor=owner, agent_id=agent.pk, items=items)
            # Segment now so the demo shows episodes at once; the queued task will then find nothing to do.
            session = AgentSession.objects.get(agent=agent, key=key)
            episode_segment(session_pk=session.pk)
            sessions += 1
    stdout.write(f"episodes: {sessions} demo sessions ingested and segmented.\n")


def _demo_sessions_bulk(*, agent_id: int, start: datetime, repeat: int) -> int:
    """One agent's missing large-demo sessions in one transaction: sessions created in one bulk insert,
    their interactions in one driver-level bulk insert, then their episodes.

    The large demo repeats the same few topics, an hour apart, so their episodes differ only in time:
    the first new session of each topic is segmented by episode_segment, and the repeats get a copy
    of its episode and segments shifted in time, written in two bulk inserts (the tests check a copy
    equals what segmentation computes). Unlike interactions_ingest this queues no segmentation task
    per session: they would only find nothing to do.
    """
    with transaction.atomic():
        existing = set(AgentSession.objects.filter(agent_id=agent_id, key__startswith="demo-").values_list("key", flat=True))
        missing = [index for index in range(len(_DEMO_TOPICS) * repeat) if f"demo-{index}" not in existing]
        if not missing:
            return 0
        items: dict[int, list[InteractionInput]] = {}
        for index in missing:
            title, lines = _DEMO_TOPICS[index % len(_DEMO_TOPICS)]
            items[index] = _demo_items(key=f"demo-{index}", title=title, lines=lines, at=start + timedelta(hours=index))
        AgentSession.objects.bulk_create(
            [
                AgentSession(agent_id=agent_id, key=f"demo-{index}", next_seq=len(group), last_at=group[-1].timestamp)
                for index, group in items.items()
            ]
        )
        session_pks = dict(
            AgentSession.objects.filter(agent_id=agent_id, key__in=[f"demo-{index}" for index in items]).values_list("key", "pk")
        )
        now = timezone.now()
        _interactions_insert(
            [
                (agent_id, session_pks[f"demo-{index}"], seq, item.role, item.content, item.timestamp, _metadata_json(item.metadata), now)
                for index, group in items.items()
                for seq, item in enumerate(group)
            ]
        )
        templates: dict[int, tuple[int, Episode, list[Segment]]] = {}
        copies: list[tuple[int, int]] = []
        for index in missing:
            topic = index % len(_DEMO_TOPICS)
            if topic in templates:
                copies.append((index, topic))
                continue
            episode = episode_segment(session_pk=session_pks[f"demo-{index}"])
            assert episode is not None
            templates[topic] = (index, episode, list(Segment.objects.filter(episode=episode).order_by("order")))
        if copies:
            _demo_episodes_copy(agent_id=agent_id, copies=copies, templates=templates, session_pks=session_pks)
    return len(missing)


# Episode columns a copy takes from its template as they are; times are shifted, the rest is its own.
_EPISODE_OWN_FIELDS = {"id", "session", "started_at", "ended_at", "index_version", "created_at", "updated_at"}


def _demo_episodes_copy(
    *, agent_id: int, copies: list[tuple[int, int]], templates: dict[int, tuple[int, Episode, list[Segment]]], session_pks: dict[str, int]
) -> None:
    version = _index_version_bump(agent_id=agent_id)
    copied = [field.attname for field in Episode._meta.concrete_fields if field.name not in _EPISODE_OWN_FIELDS]
    episodes: list[Episode] = []
    for index, topic in copies:
        template_index, template, _ = templates[topic]
        shift = timedelta(hours=index - template_index)
        episodes.append(
            Episode(
                **{name: getattr(template, name) for name in copied},
                session_id=session_pks[f"demo-{index}"],
                started_at=template.started_at + shift,
                ended_at=template.ended_at + shift,
                index_version=version,
            )
        )
    Episode.objects.bulk_create(episodes, batch_size=SEGMENT_WRITE_BATCH)
    segments: list[Segment] = []
    for (index, topic), episode in zip(copies, episodes, strict=True):
        template_index, _, template_segments = templates[topic]
        shift = timedelta(hours=index - template_index)
        segments.extend(
            Segment(
                episode_id=episode.pk,
                order=segment.order,
                kind=segment.kind,
                seq_start=segment.seq_start,
                seq_end=segment.seq_end,
                started_at=segment.started_at + shift,
                ended_at=segment.ended_at + shift,
                preview=segment.preview,
            )
            for segment in template_segments
        )
    Segment.objects.bulk_create(segments, batch_size=SEGMENT_WRITE_BATCH)
