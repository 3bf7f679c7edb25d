"""The demo seeder gives governance's demo agents episodes, and running it again adds nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from atom.management.commands.seed_demo import SEEDERS
from episodes.models import Episode, Interaction

pytestmark = pytest.mark.django_db


def test_it_is_the_second_seeder():
    assert SEEDERS[:2] == ("governance.services.demo_data_seed", "episodes.services.demo_data_seed")


def test_it_seeds_episodes_for_every_demo_agent_idempotently():
    call_command("seed_demo", stdout=io.StringIO())
    episodes = Episode.objects.count()
    interactions = Interaction.objects.count()
    assert episodes >= 4
    assert set(Episode.objects.values_list("agent__name", flat=True)) >= {"demo-student", "demo-autonomous"}
    call_command("seed_demo", stdout=io.StringIO())
    assert (Episode.objects.count(), Interaction.objects.count()) == (episodes, interactions)


def test_without_the_demo_owner_it_explains_and_does_nothing():
    from episodes.services import demo_data_seed

    out = io.StringIO()
    demo_data_seed(large=False, stdout=out)
    assert "no demo owner" in out.getvalue()
    assert Episode.objects.count() == 0


def test_large_seeds_every_agent_in_batches_like_the_one_by_one_path_and_idempotently():
    from episodes.models import AgentSession
    from episodes.services import demo_data_seed

    call_command("seed_demo", stdout=io.StringIO())  # the small path: demo-0..demo-2 per agent, one at a time
    agents = AgentSession.objects.values("agent").distinct().count()
    out = io.StringIO()
    demo_data_seed(large=True, stdout=out, large_repeat=2)
    assert f"{agents * 3} demo sessions ingested" in out.getvalue()
    assert "episodes: 100%" in out.getvalue()  # the progress bar over the agents
    assert AgentSession.objects.count() == agents * 6
    assert Episode.objects.count() == agents * 6
    # demo-3 (bulk path) repeats demo-0's topic (one-by-one path): the same episode, three hours later.
    fields = ("interaction_count", "segment_count", "title", "topics", "summary", "outcome", "importance")
    for agent_id in AgentSession.objects.values_list("agent", flat=True).distinct():
        one_by_one = Episode.objects.filter(agent_id=agent_id, session__key="demo-0").values(*fields).get()
        bulk = Episode.objects.filter(agent_id=agent_id, session__key="demo-3").values(*fields).get()
        assert bulk == one_by_one
    counts = (Episode.objects.count(), Interaction.objects.count())
    again = io.StringIO()
    demo_data_seed(large=True, stdout=again, large_repeat=2)
    assert "0 demo sessions ingested" in again.getvalue()
    assert (Episode.objects.count(), Interaction.objects.count()) == counts
