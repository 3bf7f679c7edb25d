"""The demo seeder gives governance's demo agents episodes, and running it again adds nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from console.management.commands.seed_demo import SEEDERS
from episodes.models import Episode, Interaction

pytestmark = pytest.mark.django_db


def test_it_is_the_second_seeder():
    assert SEEDERS[:2] == ("governance.demo.demo_data_seed", "episodes.demo.demo_data_seed")


def test_it_seeds_episodes_for_every_demo_agent_idempotently():
    call_command("seed_demo", stdout=io.StringIO())
    episodes = Episode.objects.count()
    interactions = Interaction.objects.count()
    assert episodes >= 4
    assert set(Episode.objects.values_list("agent__name", flat=True)) >= {"demo-student", "demo-autonomous"}
    call_command("seed_demo", stdout=io.StringIO())
    assert (Episode.objects.count(), Interaction.objects.count()) == (episodes, interactions)


def test_without_the_demo_owner_it_explains_and_does_nothing():
    from episodes.demo import demo_data_seed

    out = io.StringIO()
    demo_data_seed(large=False, stdout=out)
    assert "no demo owner" in out.getvalue()
    assert Episode.objects.count() == 0


def test_large_seeds_every_agent_in_batches_like_the_one_by_one_path_and_idempotently():
    from datetime import timedelta

    from episodes.demo import demo_data_seed
    from episodes.models import AgentSession, Segment

    call_command("seed_demo", stdout=io.StringIO())  # the small path: demo-0..demo-2 per agent, one at a time
    agents = AgentSession.objects.values("agent").distinct().count()
    out = io.StringIO()
    demo_data_seed(large=True, stdout=out, large_repeat=3)
    assert f"{agents * 6} demo sessions ingested" in out.getvalue()
    assert "episodes: 100%" in out.getvalue()  # the progress bar over the agents
    assert AgentSession.objects.count() == agents * 9
    assert Episode.objects.count() == agents * 9
    # demo-3 (segmented in the batch) and demo-6 (its time-shifted copy) repeat demo-0's topic, which the
    # one-by-one path segmented: the same episode and segments, three and six hours later.
    fields = ("interaction_count", "segment_count", "segmented_through", "title", "topics", "summary", "outcome", "importance",
              "maturity", "embedding", "embedding_model", "status", "interventions", "constitutional_score_sum")  # fmt: skip
    segment_fields = ("order", "kind", "seq_start", "seq_end", "preview")
    for agent_id in AgentSession.objects.values_list("agent", flat=True).distinct():
        by_key = {e.session.key: e for e in Episode.objects.filter(agent_id=agent_id).select_related("session")}
        base = by_key["demo-0"]
        base_segments = list(Segment.objects.filter(episode=base).order_by("order"))
        for key in ("demo-3", "demo-6"):
            episode = by_key[key]
            assert {f: getattr(episode, f) for f in fields} == {f: getattr(base, f) for f in fields}
            assert episode.ended_at - episode.started_at == base.ended_at - base.started_at
            segments = list(Segment.objects.filter(episode=episode).order_by("order"))
            assert [[getattr(s, f) for f in segment_fields] for s in segments] == [
                [getattr(s, f) for f in segment_fields] for s in base_segments
            ]
            assert [s.started_at - episode.started_at for s in segments] == [s.started_at - base.started_at for s in base_segments]
        assert by_key["demo-6"].started_at - by_key["demo-3"].started_at == timedelta(hours=3)
    counts = (Episode.objects.count(), Interaction.objects.count(), Segment.objects.count())
    again = io.StringIO()
    demo_data_seed(large=True, stdout=again, large_repeat=3)
    assert "0 demo sessions ingested" in again.getvalue()
    assert (Episode.objects.count(), Interaction.objects.count(), Segment.objects.count()) == counts
