"""episode_segment on stored sessions: lossless segments, derived fields, idempotence, atomicity."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from episodes.models import AgentSession, Episode, EpisodeStatus, Interaction, Outcome, Segment, SegmentKind
from episodes.services import segmenting
from episodes.services.ingestion import interactions_ingest
from episodes.services.segmenting import episode_segment
from episodes.tasks import episode_segment_task
from episodes.tests.factories import conversation, episode_from, make_agent, make_input

pytestmark = pytest.mark.django_db

DEPLOY = "the deploy pipeline for the billing service failed on staging"
DEPLOY_AGAIN = "the deploy pipeline for the billing service failed on staging again"
CAKE = "a chocolate cake recipe with cream and strawberries"


def assert_lossless(episode):
    """Every interaction of the session in exactly one segment; segments ordered, disjoint, covering."""
    segments = list(Segment.objects.filter(episode=episode).order_by("order"))
    seqs = list(Interaction.objects.filter(session=episode.session).order_by("seq").values_list("seq", flat=True))
    covered = [seq for segment in segments for seq in range(segment.seq_start, segment.seq_end + 1)]
    assert covered == seqs == list(range(len(seqs)))
    assert [segment.order for segment in segments] == list(range(len(segments)))
    assert all(a.ended_at <= b.started_at for a, b in pairwise(segments))
    assert episode.segment_count == len(segments)
    assert episode.interaction_count == len(seqs)


def test_it_cuts_a_session_at_gaps_and_topic_changes():
    agent = make_agent()
    start = timezone.now() - timedelta(days=1)
    items = conversation(start=start, contents=[DEPLOY, DEPLOY_AGAIN, DEPLOY])
    items += conversation(start=start + timedelta(hours=2), contents=[DEPLOY, DEPLOY_AGAIN])
    items += conversation(start=start + timedelta(hours=2, minutes=5), contents=[CAKE])
    episode = episode_from(agent, items)
    assert list(Segment.objects.filter(episode=episode).values_list("seq_start", "seq_end")) == [(0, 2), (3, 4), (5, 5)]
    assert_lossless(episode)


def test_a_gap_of_exactly_thirty_minutes_keeps_the_segment_and_one_second_more_splits():
    agent = make_agent()
    start = timezone.now() - timedelta(days=1)
    items = conversation(start=start, contents=[DEPLOY, DEPLOY], gap=timedelta(minutes=30))
    items += conversation(start=start + timedelta(minutes=60, seconds=1), contents=[DEPLOY], session_id="s-1")
    episode = episode_from(agent, items)
    assert list(Segment.objects.filter(episode=episode).values_list("seq_start", "seq_end")) == [(0, 1), (2, 2)]


def test_it_derives_title_summary_topics_outcome_and_importance():
    agent = make_agent()
    items = conversation(contents=[DEPLOY, DEPLOY_AGAIN])
    items[-1] = make_input(
        content="rolled back the deploy", timestamp=items[-1].timestamp, metadata={"outcome": "failure", "interventions": 2}
    )
    episode = episode_from(agent, items)
    assert episode.title.startswith("the deploy pipeline")
    assert "deploy pipeline" in episode.summary
    assert "deploy" in episode.topics
    assert episode.outcome == Outcome.FAILURE
    assert episode.interventions == 2
    assert 0 < episode.importance <= 1
    assert episode.maturity == agent.maturity
    assert episode.status == EpisodeStatus.ACTIVE


def test_segment_kinds_follow_the_roles():
    agent = make_agent()
    start = timezone.now() - timedelta(days=1)
    items = [
        make_input(role="user", content=DEPLOY, timestamp=start),
        make_input(role="agent", content=DEPLOY, timestamp=start + timedelta(hours=1)),
        make_input(role="tool", content=DEPLOY, timestamp=start + timedelta(hours=2)),
    ]
    episode = episode_from(agent, items)
    assert list(Segment.objects.filter(episode=episode).values_list("kind", flat=True)) == [
        SegmentKind.CONVERSATION,
        SegmentKind.REFLECTION,
        SegmentKind.EXECUTION,
    ]


def test_running_it_again_changes_nothing():
    agent = make_agent()
    episode = episode_from(agent, conversation(contents=[DEPLOY, CAKE, DEPLOY]))
    before = list(Segment.objects.values_list("id", "order", "seq_start", "seq_end"))
    again = episode_segment(session_pk=episode.session_id)
    assert again is not None
    assert again.pk == episode.pk
    assert list(Segment.objects.values_list("id", "order", "seq_start", "seq_end")) == before
    assert Episode.objects.count() == 1


def test_a_task_delivered_twice_makes_one_episode():
    agent = make_agent()
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=conversation(contents=[DEPLOY, CAKE]))
    session = AgentSession.objects.get()
    first = episode_segment_task.apply(args=(session.pk,)).get()
    second = episode_segment_task.apply(args=(session.pk,)).get()
    assert first == second
    assert Episode.objects.count() == 1
    assert Segment.objects.count() == 2


def test_an_unknown_session_is_a_harmless_no_op():
    assert episode_segment_task.apply(args=(987654,)).get() is None


def test_appending_to_a_session_gives_the_same_segments_as_segmenting_it_whole():
    contents = [DEPLOY, DEPLOY_AGAIN, DEPLOY, CAKE, CAKE, DEPLOY, DEPLOY_AGAIN]
    whole_agent, split_agent = make_agent(), make_agent()
    items = conversation(contents=contents)
    whole = episode_from(whole_agent, items)
    episode_from(split_agent, items[:2])
    episode_from(split_agent, items[2:5])
    split = episode_from(split_agent, items[5:])
    ranges = list(Segment.objects.filter(episode=whole).values_list("order", "seq_start", "seq_end", "kind"))
    assert list(Segment.objects.filter(episode=split).values_list("order", "seq_start", "seq_end", "kind")) == ranges
    assert split.segment_count == whole.segment_count
    assert split.interaction_count == whole.interaction_count
    assert split.embedding == whole.embedding or split.embedding_model == whole.embedding_model
    assert_lossless(split)


def test_new_interactions_reopen_a_completed_episode():
    agent = make_agent()
    items = conversation(contents=[DEPLOY, DEPLOY, DEPLOY])
    episode = episode_from(agent, items[:2])
    Episode.objects.filter(pk=episode.pk).update(status=EpisodeStatus.COMPLETED)
    assert episode_from(agent, items[2:]).status == EpisodeStatus.ACTIVE


def test_it_streams_a_long_session_in_chunks_with_full_segments(settings):
    settings.EPISODES_SEGMENT_MAX_SIZE = 7
    agent = make_agent()
    items = conversation(contents=[DEPLOY] * 40, gap=timedelta(seconds=1))
    with mock.patch("episodes.services.segmenting.STREAM_CHUNK", 9), mock.patch("episodes.services.segmenting.SEGMENT_WRITE_BATCH", 2):
        episode = episode_from(agent, items)
    sizes = list(Segment.objects.filter(episode=episode).order_by("order").values_list("seq_start", "seq_end"))
    assert sizes == [(start, min(start + 6, 39)) for start in range(0, 40, 7)]
    assert_lossless(episode)


def test_a_failure_midway_leaves_no_episode_no_segment_and_the_interactions_intact():
    agent = make_agent()
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=conversation(contents=[DEPLOY, CAKE, DEPLOY, CAKE] * 5))
    session = AgentSession.objects.get()
    before = list(Interaction.objects.order_by("seq").values_list("seq", "content"))
    original_segments_insert = segmenting._segments_insert
    calls = []

    def failing_segments_insert(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original_segments_insert(*args, **kwargs)

    with (
        mock.patch("episodes.services.segmenting.SEGMENT_WRITE_BATCH", 3),
        mock.patch("episodes.services.segmenting._segments_insert", side_effect=failing_segments_insert),
        pytest.raises(RuntimeError),
    ):
        episode_segment(session_pk=session.pk)
    assert calls == [1, 1]
    assert Episode.objects.count() == 0
    assert Segment.objects.count() == 0
    assert list(Interaction.objects.order_by("seq").values_list("seq", "content")) == before
    episode = episode_segment(session_pk=session.pk)
    assert_lossless(episode)


def test_a_failure_while_appending_keeps_the_previous_episode_as_it_was():
    agent = make_agent()
    items = conversation(contents=[DEPLOY, CAKE, DEPLOY, CAKE, DEPLOY])
    episode = episode_from(agent, items[:3])
    before = list(Segment.objects.values_list("id", "seq_start", "seq_end"))
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=items[3:])
    with (
        mock.patch("episodes.services.segmenting._index_version_bump", side_effect=RuntimeError("lost connection")),
        pytest.raises(RuntimeError),
    ):
        episode_segment(session_pk=episode.session_id)
    assert list(Segment.objects.values_list("id", "seq_start", "seq_end")) == before
    assert Episode.objects.get().segmented_through == 2


WORDS = ["deploy", "pipeline", "billing", "cake", "cream", "login", "token", "database", "index"]


class SegmentationPropertyTests(TestCase):
    """The invariants on real rows, for random sessions (fewer examples: each one writes to the database)."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        steps=st.lists(
            st.tuples(st.integers(min_value=0, max_value=3600), st.lists(st.sampled_from(WORDS), min_size=0, max_size=6)),
            min_size=1,
            max_size=40,
        ),
        cut=st.integers(min_value=0, max_value=40),
    )
    def test_every_interaction_is_in_exactly_one_segment_whatever_the_batches(self, steps, cut):
        agent = make_agent()
        at = timezone.now() - timedelta(days=3)
        items = []
        for delta, words in steps:
            at += timedelta(seconds=delta)
            items.append(make_input(content=" ".join(words), timestamp=at))
        cut = min(cut, len(items))
        for batch in (items[:cut], items[cut:]):
            if batch:
                episode = episode_from(agent, batch)
        assert_lossless(episode)
        again = episode_segment(session_pk=episode.session_id)
        assert again is not None
        assert again.segment_count == episode.segment_count


def test_the_segment_rows_are_written_in_bulk(django_assert_max_num_queries):
    agent = make_agent()
    interactions_ingest(actor=agent.owner, agent_id=agent.pk, items=conversation(contents=[DEPLOY, CAKE] * 100, gap=timedelta(hours=1)))
    session = AgentSession.objects.get()
    # 200 segments: a constant number of queries, not one per segment or per interaction.
    with django_assert_max_num_queries(16):
        episode = episode_segment(session_pk=session.pk)
    assert episode is not None
    assert episode.segment_count == 200
    assert connection.vendor in {"sqlite", "postgresql"}
