"""GET agents/{id}/episodes/?mode=… and GET episodes/{id}/: governed, clamped, confined, logged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from episodes.models import Episode, EpisodeAccess, EpisodeStatus, RetrievalMode
from episodes.tests.factories import conversation, episode_from, make_agent
from governance.models import AgentState, AuditEntry, Maturity

pytestmark = pytest.mark.django_db

TOPICS = [
    "the deploy pipeline for the billing service failed on staging",
    "a chocolate cake recipe with cream and strawberries",
    "rotate the database credentials and restart the workers",
]
HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE episodes_episode; --",
    '" UNION SELECT password FROM auth_user --',
    "%' AND SLEEP(5) AND '%'='",
    "<script>alert(1)</script>",
    "{{ settings.SECRET_KEY }}",
    "../../../../etc/passwd",
    "$(rm -rf /)",
    "\u202e\u200b\ufeffunicode",
    "a" * 1000,
]
ALL_MODES = [RetrievalMode.TEMPORAL, RetrievalMode.SEMANTIC, RetrievalMode.SEQUENTIAL, RetrievalMode.CONTEXTUAL]


def url(agent_id, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/v1/agents/{agent_id}/episodes/?{query}"


def memory_of(agent, sessions=3):
    start = timezone.now() - timedelta(days=5)
    episodes = []
    for index in range(sessions):
        text = TOPICS[index % len(TOPICS)]
        items = conversation(start=start + timedelta(hours=index), contents=[text, text + " again"], session_id=f"s-{index}")
        episodes.append(episode_from(agent, items))
    return episodes


def params_for(mode, episodes, **extra):
    params = {"mode": mode}
    if mode in (RetrievalMode.SEMANTIC, RetrievalMode.CONTEXTUAL):
        params["q"] = "deploy pipeline failed"
    if mode == RetrievalMode.SEQUENTIAL:
        params["episode_id"] = episodes[0].pk
    params.update(extra)
    return params


@pytest.fixture
def intern():
    return make_agent(maturity=Maturity.INTERN)


def test_temporal_lists_episodes_newest_first_in_the_window(intern, client_for):
    episodes = memory_of(intern)
    response = client_for(intern.owner).get(url(intern.pk, mode="temporal"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert [row["id"] for row in body["results"]] == [e.pk for e in reversed(episodes)]
    assert (body["mode"], body["limit"], body["count"], body["segments"]) == ("temporal", 50, 3, [])
    since = episodes[1].started_at.isoformat().replace("+00:00", "Z")
    windowed = client_for(intern.owner).get(url(intern.pk, mode="temporal", since=since)).json()
    assert [row["id"] for row in windowed["results"]] == [episodes[2].pk, episodes[1].pk]


def test_semantic_ranks_by_similarity_with_a_score(intern, client_for):
    episodes = memory_of(intern)
    body = client_for(intern.owner).get(url(intern.pk, mode="semantic", q="chocolate cake with cream")).json()
    assert body["results"][0]["id"] == episodes[1].pk
    scores = [row["score"] for row in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["limit"] == 10


def test_contextual_combines_similarity_recency_and_importance(intern, client_for):
    episodes = memory_of(intern)
    body = client_for(intern.owner).get(url(intern.pk, mode="contextual", q="rotate database credentials")).json()
    assert body["results"][0]["id"] == episodes[2].pk
    assert body["limit"] == 5
    assert all(0 <= row["score"] <= 1 for row in body["results"])


def test_sequential_returns_one_episode_with_its_segments_in_order(intern, client_for):
    agent = intern
    start = timezone.now() - timedelta(days=1)
    items = conversation(start=start, contents=[TOPICS[0], TOPICS[1], TOPICS[2]], gap=timedelta(hours=1))
    episode = episode_from(agent, items)
    body = client_for(agent.owner).get(url(agent.pk, mode="sequential", episode_id=episode.pk)).json()
    assert [row["id"] for row in body["results"]] == [episode.pk]
    assert [(s["order"], s["seq_start"], s["seq_end"]) for s in body["segments"]] == [(0, 0, 0), (1, 1, 1), (2, 2, 2)]
    page = client_for(agent.owner).get(url(agent.pk, mode="sequential", episode_id=episode.pk, after=0, limit=1)).json()
    assert [s["order"] for s in page["segments"]] == [1]


def test_the_episode_route_reads_one_episode(intern, client_for, other_user):
    episode = memory_of(intern, sessions=1)[0]
    response = client_for(intern.owner).get(f"/api/v1/episodes/{episode.pk}/")
    assert response.status_code == 200
    assert response.json()["results"][0]["session_id"] == "s-0"
    assert client_for(other_user).get(f"/api/v1/episodes/{episode.pk}/").status_code == 404
    assert client_for(intern.owner).get("/api/v1/episodes/999999/").status_code == 404


@pytest.mark.parametrize(("mode", "allowed"), [("temporal", True), ("sequential", True), ("semantic", False), ("contextual", False)])
def test_a_student_may_only_use_temporal_and_sequential(client_for, mode, allowed):
    student = make_agent(maturity=Maturity.STUDENT)
    episodes = memory_of(student, sessions=1)
    response = client_for(student.owner).get(url(student.pk, **params_for(mode, episodes)))
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "MATURITY_INSUFFICIENT"
        assert EpisodeAccess.objects.count() == 0
    assert AuditEntry.objects.filter(agent=student).count() == 1


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("tier", [Maturity.INTERN, Maturity.SUPERVISED, Maturity.AUTONOMOUS])
def test_every_tier_from_intern_up_may_use_every_mode(client_for, mode, tier):
    agent = make_agent(maturity=tier)
    episodes = memory_of(agent, sessions=1)
    assert client_for(agent.owner).get(url(agent.pk, **params_for(mode, episodes))).status_code == 200


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_paused_agent_is_refused(client_for, mode):
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    episodes = memory_of(agent, sessions=1)
    agent.state = AgentState.PAUSED
    agent.save()
    response = client_for(agent.owner).get(url(agent.pk, **params_for(mode, episodes)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AGENT_INACTIVE"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_another_owners_agent_is_not_found(intern, client_for, other_user, mode):
    episodes = memory_of(intern, sessions=1)
    response = client_for(other_user).get(url(intern.pk, **params_for(mode, episodes)))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert EpisodeAccess.objects.count() == 0


def test_an_episode_of_another_agent_is_not_found_in_sequential_mode(intern, client_for):
    mine = memory_of(intern, sessions=1)
    sibling = make_agent(owner=intern.owner, maturity=Maturity.INTERN)
    response = client_for(intern.owner).get(url(sibling.pk, mode="sequential", episode_id=mine[0].pk))
    assert response.status_code == 404


@pytest.mark.parametrize(("mode", "maximum"), [("temporal", 200), ("semantic", 100), ("sequential", 200), ("contextual", 50)])
def test_a_limit_above_the_maximum_is_clamped(intern, client_for, mode, maximum):
    episodes = memory_of(intern, sessions=1)
    body = client_for(intern.owner).get(url(intern.pk, **params_for(mode, episodes, limit=10_000_000))).json()
    assert body["limit"] == maximum
    assert EpisodeAccess.objects.get().params["limit"] == maximum


@pytest.mark.parametrize("limit", ["0", "-5", "ten", "1e9", "2.5"])
def test_a_limit_that_is_not_a_positive_integer_is_rejected(intern, client_for, limit):
    response = client_for(intern.owner).get(url(intern.pk, mode="temporal", limit=limit))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "bogus"},
        {"mode": "semantic"},
        {"mode": "contextual", "q": "   "},
        {"mode": "sequential"},
        {"mode": "temporal", "since": "soon"},
    ],
)
def test_incomplete_or_invalid_queries_are_rejected(intern, client_for, params):
    assert client_for(intern.owner).get(url(intern.pk, **params)).status_code == 400


@pytest.mark.parametrize("mode", [RetrievalMode.SEMANTIC, RetrievalMode.CONTEXTUAL])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_query_text_is_only_text(intern, client_for, mode, hostile):
    episodes = memory_of(intern)
    client = client_for(intern.owner)
    response = client.get(f"/api/v1/agents/{intern.pk}/episodes/", {"mode": mode, "q": hostile})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"mode", "limit", "count", "results", "segments"}
    assert {row["id"] for row in body["results"]} <= {e.pk for e in episodes}
    assert all(set(row) >= {"id", "title", "score"} for row in body["results"])
    assert Episode.objects.count() == 3
    assert EpisodeAccess.objects.get().query == hostile


@pytest.mark.parametrize("hostile", HOSTILE[:5])
def test_hostile_values_in_other_parameters_are_rejected_not_run(intern, client_for, hostile):
    memory_of(intern, sessions=1)
    for name in ("limit", "since", "episode_id", "mode"):
        response = client_for(intern.owner).get(f"/api/v1/agents/{intern.pk}/episodes/", {"mode": "temporal", name: hostile})
        assert response.status_code == 400
    assert Episode.objects.count() == 1


def test_a_nul_character_in_the_query_is_rejected(intern, client_for):
    response = client_for(intern.owner).get(f"/api/v1/agents/{intern.pk}/episodes/", {"mode": "semantic", "q": "a\x00b"})
    assert response.status_code == 400


def test_every_retrieval_is_written_to_the_access_log(intern, client_for):
    episodes = memory_of(intern)
    client = client_for(intern.owner)
    client.get(url(intern.pk, mode="semantic", q="cake"), HTTP_X_REQUEST_ID="req-12345678")
    access = EpisodeAccess.objects.get()
    assert (access.agent_id, access.actor_id, access.mode, access.query, access.request_id) == (
        intern.pk,
        intern.owner_id,
        "semantic",
        "cake",
        "req-12345678",
    )
    assert sorted(access.result_ids) == sorted(e.pk for e in episodes)
    assert access.result_count == 3


def test_archived_and_consolidated_episodes_are_left_out_unless_asked(intern, client_for):
    episodes = memory_of(intern)
    Episode.objects.filter(pk=episodes[0].pk).update(status=EpisodeStatus.ARCHIVED)
    Episode.objects.filter(pk=episodes[1].pk).update(status=EpisodeStatus.CONSOLIDATED)
    client = client_for(intern.owner)
    assert [r["id"] for r in client.get(url(intern.pk, mode="temporal")).json()["results"]] == [episodes[2].pk]
    with_archived = client.get(url(intern.pk, mode="temporal", include_archived="true")).json()["results"]
    assert [r["id"] for r in with_archived] == [episodes[2].pk, episodes[0].pk]


def test_semantic_search_sees_status_changes_made_through_services(intern, client_for):
    from episodes.services.lifecycle import episodes_lifecycle_run

    memory_of(intern)
    client = client_for(intern.owner)
    assert client.get(url(intern.pk, mode="semantic", q="cake")).json()["count"] == 3
    episodes_lifecycle_run(now=timezone.now() + timedelta(days=400))
    assert client.get(url(intern.pk, mode="semantic", q="cake")).json()["count"] == 0
    assert Episode.objects.filter(status=EpisodeStatus.ARCHIVED).count() == 3


def test_new_episodes_appear_in_semantic_search_without_a_restart(intern, client_for):
    memory_of(intern, sessions=1)
    client = client_for(intern.owner)
    assert client.get(url(intern.pk, mode="semantic", q="cake")).json()["count"] == 1
    episode_from(intern, conversation(contents=[TOPICS[1]], session_id="later"))
    body = client.get(url(intern.pk, mode="semantic", q="chocolate cake cream")).json()
    assert body["count"] == 2
    assert body["results"][0]["session_id"] == "later"
