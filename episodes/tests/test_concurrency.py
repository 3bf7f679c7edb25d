"""Concurrent deliveries and batches on PostgreSQL: row locks keep one episode and gap-free sequences."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from episodes.models import AgentSession, Episode, Interaction, Segment
from episodes.services.ingestion import interactions_ingest
from episodes.services.segmenting import episode_segment
from episodes.tests.factories import conversation, make_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    errors = []

    def worker(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_simultaneous_deliveries_make_one_episode():
    agent = make_agent()
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=conversation(contents=["deploy", "cake", "deploy"] * 50))
    session = AgentSession.objects.get()
    assert run_together(*[lambda: episode_segment(session_pk=session.pk)] * 4) == []
    assert Episode.objects.count() == 1
    episode = Episode.objects.get()
    assert sum(seg.interaction_count for seg in Segment.objects.filter(episode=episode)) == 150


def test_simultaneous_batches_for_one_new_session_get_gap_free_sequences():
    agent = make_agent()
    start = timezone.now() - timedelta(days=1)
    # Identical timestamps: whichever batch commits second is still in time order.
    batches = [conversation(start=start, contents=[f"batch {n}"] * 20, gap=timedelta(0)) for n in range(4)]
    errors = run_together(
        *[lambda batch=batch: interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=batch) for batch in batches]
    )
    assert errors == []
    assert AgentSession.objects.count() == 1
    assert sorted(Interaction.objects.values_list("seq", flat=True)) == list(range(80))
    assert AgentSession.objects.get().next_seq == 80
