"""The lifecycle sweep: completion, decay, archival, consolidation; running it twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from episodes.models import AgentSession, Episode, EpisodeStatus, Interaction
from episodes.services.ingestion import interactions_ingest
from episodes.services.lifecycle import episodes_lifecycle_run
from episodes.tasks import episodes_lifecycle_task
from episodes.tests.factories import conversation, episode_from, make_agent, make_input
from governance.models import AgentOutcome

pytestmark = pytest.mark.django_db

DEPLOY = "the deploy pipeline for the billing service failed on staging"
CAKE = "a chocolate cake recipe with cream and strawberries"


def aged(agent, days, contents=(DEPLOY,), session_id=None):
    start = timezone.now() - timedelta(days=days)
    return episode_from(
        agent, conversation(start=start, contents=list(contents), session_id=session_id or f"aged-{days}-{contents[0][:5]}")
    )


def snapshot():
    return list(Episode.objects.order_by("id").values_list("id", "status", "decay", "consolidated_into_id", "index_version"))


def test_decay_follows_the_formula_after_ninety_days_only():
    agent = make_agent()
    young, ninety_one, one_twenty = aged(agent, 10), aged(agent, 91, (CAKE,)), aged(agent, 120, ("rotate the keys",))
    now = timezone.now()
    episodes_lifecycle_run(now=now)
    young.refresh_from_db()
    ninety_one.refresh_from_db()
    one_twenty.refresh_from_db()
    assert young.decay == 1.0
    for episode in (ninety_one, one_twenty):
        age_days = (now - episode.ended_at).total_seconds() / 86400
        assert episode.decay == pytest.approx(max(0.0, 1 - age_days / 180), abs=1e-4)
    assert one_twenty.decay == pytest.approx(1 - 120 / 180, abs=1e-3)


def test_episodes_over_a_hundred_and_eighty_days_are_archived_with_no_weight():
    agent = make_agent()
    old, recent = aged(agent, 181), aged(agent, 179, (CAKE,))
    report = episodes_lifecycle_run()
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, old.decay) == (EpisodeStatus.ARCHIVED, 0.0)
    assert recent.status == EpisodeStatus.COMPLETED
    assert report.archived == 1


def test_idle_active_episodes_complete_and_report_their_outcome_to_governance():
    agent = make_agent()
    items = conversation(contents=[DEPLOY, DEPLOY])
    items[-1] = make_input(
        content="done", timestamp=items[-1].timestamp, metadata={"success": True, "interventions": 1, "constitutional_score": 0.9}
    )
    episode = episode_from(agent, items)
    assert episode.status == EpisodeStatus.ACTIVE
    assert episodes_lifecycle_run().completed == 1
    outcome = AgentOutcome.objects.get()
    assert (outcome.agent_id, outcome.reference, outcome.success, outcome.interventions) == (agent.pk, f"episode:{episode.pk}", True, 1)
    assert outcome.constitutional_score == pytest.approx(0.9)


def test_an_episode_still_in_use_is_not_completed():
    agent = make_agent()
    episode = episode_from(agent, conversation(start=timezone.now() - timedelta(minutes=2), contents=[DEPLOY]))
    episodes_lifecycle_run()
    episode.refresh_from_db()
    assert episode.status == EpisodeStatus.ACTIVE


def test_near_duplicate_completed_episodes_are_consolidated_into_the_earliest():
    agent = make_agent()
    first = aged(agent, 5, (DEPLOY, DEPLOY), session_id="a")
    duplicate = aged(agent, 4, (DEPLOY, DEPLOY + " again"), session_id="b")
    different = aged(agent, 3, (CAKE, CAKE), session_id="c")
    other_agent_copy = aged(make_agent(), 2, (DEPLOY, DEPLOY), session_id="d")
    report = episodes_lifecycle_run()
    assert report.consolidated == 1
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.consolidated_into_id) == (EpisodeStatus.CONSOLIDATED, first.pk)
    for episode in (first, different, other_agent_copy):
        episode.refresh_from_db()
        assert episode.status == EpisodeStatus.COMPLETED
    # Consolidation never loses an interaction.
    assert Interaction.objects.filter(session=duplicate.session).count() == 2


def test_a_second_run_changes_nothing():
    agent = make_agent()
    aged(agent, 5, (DEPLOY,), session_id="a")
    aged(agent, 4, (DEPLOY,), session_id="b")
    aged(agent, 100, (CAKE,), session_id="c")
    aged(agent, 200, ("rotate the keys",), session_id="d")
    now = timezone.now()
    first = episodes_lifecycle_run(now=now)
    assert (first.completed, first.archived, first.consolidated) == (4, 1, 1)
    before = snapshot()
    second = episodes_lifecycle_run(now=now)
    assert (second.resegmented, second.completed, second.decayed, second.archived, second.consolidated) == (0, 0, 0, 0, 0)
    assert snapshot() == before


def test_it_segments_a_session_whose_task_was_lost():
    agent = make_agent()
    interactions_ingest(
        actor=agent.owner, agent_id=agent.pk, items=conversation(start=timezone.now() - timedelta(hours=1), contents=[DEPLOY])
    )
    assert Episode.objects.count() == 0
    assert episodes_lifecycle_run().resegmented == 1
    assert Episode.objects.get().session == AgentSession.objects.get()


def test_the_task_runs_the_sweep_and_beat_schedules_it_with_an_expiry():
    agent = make_agent()
    aged(agent, 200)
    assert episodes_lifecycle_task.apply().get()["archived"] == 1
    entry = settings.CELERY_BEAT_SCHEDULE["episodes-lifecycle"]
    assert entry["task"] == episodes_lifecycle_task.name
    assert entry["options"]["expires"] > 0
