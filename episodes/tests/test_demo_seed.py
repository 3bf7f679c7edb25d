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
