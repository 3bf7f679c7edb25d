"""Interactions posted through the API become episodes with a real Celery worker running."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from atom.testing import wait_until
from episodes.models import Episode, Segment
from episodes.tests.factories import make_agent
from governance.models import Maturity
from governance.services.decision import action_map_seed


@pytest.mark.worker
def test_posted_interactions_become_episodes_retrievable_through_the_api(transactional_db, celery_worker_process, client_for):
    # Transactional tests flush every table, the action map that governance's migration seeds included.
    action_map_seed()
    agent = make_agent(maturity=Maturity.INTERN)
    client = client_for(agent.owner)
    start = timezone.now() - timedelta(hours=3)
    batch = [
        {"session_id": "live", "role": "user", "content": "the deploy pipeline failed on staging", "timestamp": start.isoformat()},
        {
            "session_id": "live",
            "role": "agent",
            "content": "the deploy pipeline failed on staging, retrying",
            "timestamp": (start + timedelta(minutes=1)).isoformat(),
        },
        {"session_id": "live", "role": "user", "content": "a chocolate cake recipe", "timestamp": (start + timedelta(hours=1)).isoformat()},
    ]
    response = client.post(f"/api/v1/agents/{agent.pk}/interactions/", {"interactions": batch}, format="json")
    assert response.status_code == 202
    wait_until(
        lambda: Episode.objects.filter(agent=agent, interaction_count=3).exists(), timeout=60, message="the worker to segment the session"
    )
    episode = Episode.objects.get(agent=agent)
    assert list(Segment.objects.filter(episode=episode).order_by("order").values_list("seq_start", "seq_end")) == [(0, 1), (2, 2)]
    response = client.get(f"/api/v1/agents/{agent.pk}/episodes/", {"mode": "semantic", "q": "deploy pipeline"})
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [episode.pk]
