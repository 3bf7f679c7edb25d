"""The demo data: the demo owner with an agent of every tier and the seeded action map; idempotent."""

from __future__ import annotations

import io

import pytest

from governance.models import ActionPolicy, Agent, Maturity
from governance.services import SEED_ACTIONS, demo_data_seed

pytestmark = pytest.mark.django_db


def test_the_demo_owner_gets_an_agent_of_every_tier_and_reruns_change_nothing():
    for _ in range(2):
        demo_data_seed(large=False, stdout=io.StringIO())
    agents = Agent.objects.filter(owner__username="demo")
    assert sorted(agents.values_list("maturity", flat=True)) == sorted(Maturity.values)
    assert ActionPolicy.objects.count() == sum(len(names) for names in SEED_ACTIONS.values())


def test_seed_demo_runs_the_governance_seeder_first():
    from atom.management.commands.seed_demo import SEEDERS

    assert SEEDERS[0] == "governance.services.demo_data_seed"
    ActionPolicy.objects.filter(name="read").delete()
    demo_data_seed(large=False, stdout=io.StringIO())
    assert ActionPolicy.objects.filter(name="read", complexity=1).exists()
