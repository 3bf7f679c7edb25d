"""The admin shows episodes with their segments, interactions and the access log, read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from episodes.models import EpisodeAccess, Interaction
from episodes.tests.factories import conversation, episode_from, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def episode():
    return episode_from(make_agent(), conversation(contents=["deploy the service", "a chocolate cake"]))


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="correct horse battery staple")
    client.force_login(admin)
    return client


def test_the_episode_page_shows_its_segments_inline(admin_client, episode):
    response = admin_client.get(reverse("admin:episodes_episode_change", args=[episode.pk]))
    assert response.status_code == 200
    assert b"deploy the service" in response.content
    assert b"a chocolate cake" in response.content


@pytest.mark.parametrize("params", ["", "?status__exact=active", "?started_at__year=2026", "?q=deploy"])
def test_the_episode_list_filters(admin_client, episode, params):
    response = admin_client.get(reverse("admin:episodes_episode_changelist") + params)
    assert response.status_code == 200


def test_the_episode_list_filters_by_agent(admin_client, episode):
    response = admin_client.get(reverse("admin:episodes_episode_changelist") + f"?agent__id__exact={episode.agent_id}")
    assert response.status_code == 200
    assert episode.title.encode() in response.content


def test_interactions_and_the_access_log_are_read_only(admin_client, episode):
    interaction = Interaction.objects.earliest("id")
    assert admin_client.get(reverse("admin:episodes_interaction_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:episodes_interaction_change", args=[interaction.pk])).status_code == 200
    assert admin_client.get(reverse("admin:episodes_interaction_add")).status_code == 403
    assert admin_client.post(reverse("admin:episodes_interaction_delete", args=[interaction.pk]), {"post": "yes"}).status_code == 403
    assert Interaction.objects.count() == 2
    EpisodeAccess.objects.create(agent=episode.agent, actor=episode.agent.owner, mode="temporal")
    assert admin_client.get(reverse("admin:episodes_episodeaccess_changelist") + "?mode__exact=temporal").status_code == 200
    assert admin_client.get(reverse("admin:episodes_episodeaccess_add")).status_code == 403
