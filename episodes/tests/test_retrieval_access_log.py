"""What a governed read writes: its audit row, and an access row naming exactly what it returned, in order.

On PostgreSQL the audit row, the read and the access row are one statement (``atom.readlog``); on SQLite
one transaction. Either way the rows agree with the response, and a read that fails writes neither row.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import DatabaseError
from django.utils import timezone

from atom.errors import NotFoundError
from episodes import selectors
from episodes.models import Episode, EpisodeAccess, Segment
from episodes.services.retrieval import RetrievalQuery, episodes_retrieve
from episodes.tests.factories import conversation, episode_from, make_agent
from governance.models import AuditEntry, Decision, Maturity
from governance.services.decision import action_map_seed

TOPICS = ["deploy the billing service", "a cake with strawberries", "rotate the api keys", "deploy the login service"]


def _memory(agent, sessions=4):
    start = timezone.now() - timedelta(days=3)
    return [
        episode_from(
            agent,
            conversation(
                start=start + timedelta(hours=6 * index),
                contents=[TOPICS[index % 4], "cake", TOPICS[index % 4], "more cake"],
                session_id=f"s-{index}",
                gap=timedelta(minutes=40),
            ),
        )
        for index in range(sessions)
    ]


def _get(client, agent, **params):
    response = client.get(f"/api/v1/agents/{agent.pk}/episodes/", params, HTTP_X_REQUEST_ID="req-access-log")
    return response.status_code, response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["temporal", "semantic", "contextual"])
def test_the_access_row_lists_the_episodes_returned_in_the_order_returned(client_for, mode):
    agent = make_agent(maturity=Maturity.INTERN)
    episodes = _memory(agent)
    status, body = _get(client_for(agent.owner), agent, mode=mode, q="deploy service", limit=3)
    assert status == 200
    returned = [row["id"] for row in body["results"]]
    assert len(returned) == 3
    if mode == "temporal":
        # Newest first, from the ORM, independently of the read.
        assert returned == [e.pk for e in sorted(episodes, key=lambda e: e.started_at, reverse=True)[:3]]
    access = EpisodeAccess.objects.get()
    assert (access.result_ids, access.result_count) == (returned, 3)
    assert (access.agent_id, access.actor_id, access.mode, access.request_id) == (agent.pk, agent.owner_id, mode, "req-access-log")
    assert access.params["limit"] == 3
    audit = AuditEntry.objects.get()
    assert (audit.agent_id, audit.outcome, audit.request_id) == (agent.pk, Decision.EXECUTE, "req-access-log")
    assert audit.created_at <= access.created_at


@pytest.mark.django_db
def test_a_sequential_access_row_lists_the_segments_returned(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    episode = _memory(agent, sessions=1)[0]
    segments = list(Segment.objects.filter(episode=episode).order_by("order").values_list("id", flat=True))
    assert len(segments) >= 2
    status, body = _get(client_for(agent.owner), agent, mode="sequential", episode_id=episode.pk, after=0)
    assert status == 200
    assert [row["id"] for row in body["segments"]] == segments[1:]
    access = EpisodeAccess.objects.get()
    assert (access.result_ids, access.result_count, access.params["episode_id"]) == (segments[1:], len(segments) - 1, episode.pk)


@pytest.mark.django_db
def test_a_sequential_read_past_the_last_segment_logs_an_empty_result(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    episode = _memory(agent, sessions=1)[0]
    status, body = _get(client_for(agent.owner), agent, mode="sequential", episode_id=episode.pk, after=10_000)
    assert (status, body["segments"], [row["id"] for row in body["results"]]) == (200, [], [episode.pk])
    access = EpisodeAccess.objects.get()
    assert (access.result_ids, access.result_count) == ([], 0)


@pytest.mark.django_db
def test_an_empty_temporal_window_still_writes_its_access_row(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    _memory(agent, sessions=2)
    since = (timezone.now() + timedelta(days=30)).isoformat()
    status, body = _get(client_for(agent.owner), agent, mode="temporal", since=since)
    assert (status, body["count"]) == (200, 0)
    access = EpisodeAccess.objects.get()
    assert (access.result_ids, access.result_count, access.params["since"]) == ([], 0, since)


@pytest.mark.django_db
def test_a_sequential_read_of_no_such_episode_is_audited_but_not_logged_as_an_access(client_for):
    agent = make_agent(maturity=Maturity.INTERN)
    _memory(agent, sessions=1)
    status, body = _get(client_for(agent.owner), agent, mode="sequential", episode_id=999_999)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert EpisodeAccess.objects.count() == 0
    assert AuditEntry.objects.get().outcome == Decision.EXECUTE


@pytest.mark.django_db
@pytest.mark.parametrize("episode_id", [0, -1, 2**63, 2**70])
def test_an_episode_id_outside_the_database_range_is_not_found_by_the_service(episode_id):
    # The API refuses these as invalid; a caller of the service gets "not found", not a driver overflow.
    agent = make_agent(maturity=Maturity.INTERN)
    _memory(agent, sessions=1)
    with pytest.raises(NotFoundError):
        episodes_retrieve(actor=agent.owner, agent_id=agent.pk, query=RetrievalQuery(mode="sequential", episode_id=episode_id))
    assert EpisodeAccess.objects.count() == 0


@pytest.mark.django_db
def test_another_agents_episode_is_not_found_through_the_sequential_read(client_for):
    agent, other = make_agent(maturity=Maturity.INTERN), make_agent(maturity=Maturity.INTERN)
    foreign = _memory(other, sessions=1)[0]
    _memory(agent, sessions=1)
    status, _ = _get(client_for(agent.owner), agent, mode="sequential", episode_id=foreign.pk)
    assert status == 404
    assert EpisodeAccess.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_read_that_fails_writes_neither_its_audit_row_nor_its_access_row():
    # No test transaction around the call: what the read writes is what a real request would commit. An
    # earlier transactional test may have flushed the seeded action map.
    action_map_seed()
    agent = make_agent(maturity=Maturity.INTERN)
    _memory(agent, sessions=1)
    audits = AuditEntry.objects.count()
    real = selectors.episodes_temporal_read

    def broken(**kwargs):
        read = real(**kwargs)
        return selectors.RetrievalRead(read.sql.replace("e.started_at DESC", "e.no_such_column DESC"), read.params, read.order_by)

    with mock.patch.object(selectors, "episodes_temporal_read", broken), pytest.raises(DatabaseError):
        episodes_retrieve(actor=agent.owner, agent_id=agent.pk, query=RetrievalQuery(mode="temporal"))
    assert (AuditEntry.objects.count(), EpisodeAccess.objects.count()) == (audits, 0)
    # The connection is usable afterwards, and the next read is logged.
    result = episodes_retrieve(actor=agent.owner, agent_id=agent.pk, query=RetrievalQuery(mode="temporal"))
    assert [row.id for row in result.episodes] == list(Episode.objects.values_list("id", flat=True))
    assert (AuditEntry.objects.count(), EpisodeAccess.objects.count()) == (audits + 1, 1)
