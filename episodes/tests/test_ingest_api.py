"""POST agents/{id}/interactions/: validated, bounded, atomic, confined to the caller's agents."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from episodes.models import AgentSession, Episode, Interaction
from episodes.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def url(agent_id):
    return f"/api/v1/agents/{agent_id}/interactions/"


def item(**overrides):
    body = {
        "session_id": "s-1",
        "role": "user",
        "content": "check the deploy",
        "timestamp": (timezone.now() - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


@pytest.fixture
def agent():
    return make_agent()


@pytest.fixture
def client(agent, client_for):
    return client_for(agent.owner)


def test_it_stores_a_batch_in_time_order_and_queues_segmentation(agent, client, django_capture_on_commit_callbacks):
    now = timezone.now()
    batch = [
        item(content="second", timestamp=(now - timedelta(minutes=5)).isoformat()),
        item(content="first", timestamp=(now - timedelta(minutes=9)).isoformat()),
    ]
    with mock.patch("episodes.tasks.episode_segment_task.delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(agent.pk), {"interactions": batch}, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "sessions": ["s-1"]}
    assert list(Interaction.objects.order_by("seq").values_list("seq", "content")) == [(0, "first"), (1, "second")]
    delay.assert_called_once_with(AgentSession.objects.get().pk)


def test_another_owners_agent_is_not_found(agent, client_for, other_user):
    response = client_for(other_user).post(url(agent.pk), {"interactions": [item()]}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert Interaction.objects.count() == 0


def test_it_needs_a_token(agent, api_client):
    assert api_client.post(url(agent.pk), {"interactions": [item()]}, format="json").status_code == 401


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "admin"},
        {"role": ""},
        {"timestamp": "yesterday"},
        {"timestamp": (timezone.now() + timedelta(days=2)).isoformat()},
        {"content": "x" * 16_001},
        {"content": None},
        {"content": "null\x00byte"},
        {"session_id": ""},
        {"session_id": "../../etc/passwd"},
        {"session_id": "s" * 129},
        {"session_id": "'; DROP TABLE episodes_interaction; --"},
        {"metadata": "not an object"},
        {"metadata": {"k": "nul\x00"}},
        {"metadata": {"k": "x" * 5000}},
    ],
)
def test_it_rejects_invalid_interactions_and_stores_nothing(agent, client, bad):
    batch = [item(), item(**bad)]
    response = client.post(url(agent.pk), {"interactions": batch}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert Interaction.objects.count() == 0


def test_lone_surrogates_are_rejected_not_a_server_error(agent, client):
    body = '{"interactions": [{"session_id": "s-1", "role": "user", "content": "\\ud800", "timestamp": "2026-01-01T00:00:00Z"}]}'
    response = client.generic("POST", url(agent.pk), body, content_type="application/json")
    assert response.status_code == 400
    assert Interaction.objects.count() == 0


@pytest.mark.regression("BUG-027")
@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_p2_crash_number_beyond_float_range_regression(agent, client, number):
    """BUG-027 (P2, crash): a number beyond float range in metadata answered 500 on PostgreSQL.

    ``1e400`` parsed to ``inf`` (only the literals NaN and Infinity were refused), which PostgreSQL's
    json type refused (invalid input syntax for type json): 500; SQLite stored it. Fix: the JSON
    parser refuses numbers that overflow to infinity with a 400 (commit recorded in the catalog).
    """
    body = (
        '{"interactions": [{"session_id": "s-1", "role": "user", "content": "hi", '
        f'"timestamp": "2026-01-01T00:00:00Z", "metadata": {{"x": {number}}}}}]}}'
    )
    client.raise_request_exception = False  # observe the answer a real client got
    response = client.generic("POST", url(agent.pk), body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize("interactions", [[], "nope", None])
def test_an_empty_or_malformed_batch_is_rejected(agent, client, interactions):
    assert client.post(url(agent.pk), {"interactions": interactions}, format="json").status_code == 400


def test_a_batch_over_the_maximum_is_rejected(agent, client, settings):
    response = client.post(url(agent.pk), {"interactions": [item(content="x")] * 1001}, format="json")
    assert response.status_code == 400
    assert Interaction.objects.count() == 0


def test_a_batch_reaching_back_before_the_stored_session_is_a_conflict(agent, client):
    now = timezone.now()
    assert (
        client.post(url(agent.pk), {"interactions": [item(timestamp=(now - timedelta(minutes=1)).isoformat())]}, format="json").status_code
        == 202
    )
    late = item(timestamp=(now - timedelta(minutes=10)).isoformat())
    other_session = item(session_id="s-2")
    response = client.post(url(agent.pk), {"interactions": [other_session, late]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INTERACTION_OUT_OF_ORDER"
    # Atomic: the valid session of the same batch was not stored either.
    assert Interaction.objects.count() == 1
    assert not AgentSession.objects.filter(key="s-2").exists()


def test_a_failure_midway_through_a_batch_stores_nothing(agent, client):
    from episodes.services import ingestion

    batch = [item(session_id="a"), item(session_id="b")]
    real = ingestion._interactions_insert
    calls = []

    def fail_second(rows):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(rows)

    with mock.patch("episodes.services.ingestion._interactions_insert", side_effect=fail_second):
        response = client.post(url(agent.pk), {"interactions": batch}, format="json")
    assert response.status_code == 500
    assert calls == [1, 1]
    assert Interaction.objects.count() == 0
    assert AgentSession.objects.count() == 0


def test_stored_rows_read_back_exactly_as_sent(agent, client):
    sent = item(content="ünïcödé ✓ 'quoted' \\ %s ?", metadata={"tool": "grep", "nested": {"n": [1, 2.5, None]}})
    assert client.post(url(agent.pk), {"interactions": [sent]}, format="json").status_code == 202
    stored = Interaction.objects.get()
    assert (stored.content, stored.metadata, stored.role, stored.seq) == (sent["content"], sent["metadata"], "user", 0)
    assert stored.timestamp.isoformat() == sent["timestamp"]


def test_nothing_is_queued_when_the_transaction_rolls_back(agent, client, django_capture_on_commit_callbacks):
    with mock.patch("episodes.tasks.episode_segment_task.delay") as delay, django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(url(agent.pk), {"interactions": [item(role="bogus")]}, format="json")
    assert callbacks == []
    delay.assert_not_called()


@pytest.mark.regression("BUG-020")
def test_a_broker_outage_after_commit_keeps_the_batch_and_answers_202(agent, client, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    with (
        mock.patch("episodes.tasks.episode_segment_task.delay", side_effect=OperationalError("down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url(agent.pk), {"interactions": [item()]}, format="json")
    assert response.status_code == 202
    assert Interaction.objects.count() == 1
    assert Episode.objects.count() == 0


@pytest.mark.parametrize(("content_type", "status"), [("text/plain", 415), ("application/json", 400)])
def test_wrong_content_type_and_malformed_json(agent, client, content_type, status):
    response = client.generic("POST", url(agent.pk), "{not json", content_type=content_type)
    assert response.status_code == status


def test_a_full_batch_costs_a_few_queries_per_session_not_per_interaction(agent, client, django_assert_num_queries):
    now = timezone.now() - timedelta(hours=2)
    batch = [item(session_id=f"s{n % 2}", content=f"step {n}", timestamp=(now + timedelta(seconds=n)).isoformat()) for n in range(1000)]
    # Token user, the agent, the batch's savepoint and its release (4); then per session (6): lock-or-create
    # (SELECT, SAVEPOINT, INSERT, RELEASE), one bulk insert, the cursor update. 16 for 2 sessions, whatever the size;
    # PostgreSQL's COPY goes straight to the driver, which Django's query log does not see.
    with django_assert_num_queries(16 if connection.vendor == "sqlite" else 14):
        response = client.post(url(agent.pk), {"interactions": batch}, format="json")
    assert response.status_code == 202
    assert Interaction.objects.count() == 1000
