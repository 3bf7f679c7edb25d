"""The retrieval routes run a fixed number of queries, however many episodes and segments come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from episodes.tests.factories import conversation, episode_from, make_agent
from governance.models import Maturity

pytestmark = pytest.mark.django_db


# Per request: the token's user (1) and governance's agent + action-map read (1); then the grant's audit
# row, the retrieval's one SELECT and the access-log row, three statements on SQLite and one on
# PostgreSQL (atom.readlog). Semantic and contextual add the index version check (1).
def expected(mode: str) -> int:
    logged = 3 if connection.vendor == "sqlite" else 1
    return 2 + logged + (1 if mode in ("semantic", "contextual") else 0)


MODES = ["temporal", "sequential", "semantic", "contextual"]


@pytest.fixture
def agent():
    agent = make_agent(maturity=Maturity.INTERN)
    start = timezone.now() - timedelta(days=2)
    for index in range(12):
        episode_from(
            agent,
            conversation(
                start=start + timedelta(hours=index), contents=["deploy", "cake", "deploy"], session_id=f"s{index}", gap=timedelta(hours=1)
            ),
        )
    return agent


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_runs_a_fixed_number_of_queries(agent, client_for, django_assert_num_queries, mode):
    from episodes.models import Episode

    client = client_for(agent.owner)
    params = {"mode": mode, "q": "deploy", "episode_id": Episode.objects.earliest("id").pk}
    client.get(f"/api/v1/agents/{agent.pk}/episodes/", params)  # warm the process's vector index
    with django_assert_num_queries(expected(mode)):
        response = client.get(f"/api/v1/agents/{agent.pk}/episodes/", params)
    assert response.status_code == 200
    assert response.json()["count"] >= 1


def test_the_episode_route_runs_a_fixed_number_of_queries(agent, client_for, django_assert_num_queries):
    from episodes.models import Episode

    client = client_for(agent.owner)
    path = f"/api/v1/episodes/{Episode.objects.earliest('id').pk}/"
    client.get(path)  # warm governance's cached action map
    # The episode's agent (1), then as sequential.
    with django_assert_num_queries(1 + expected("sequential")):
        response = client.get(path)
    assert len(response.json()["segments"]) == 3
