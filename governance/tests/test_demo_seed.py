"""The demo data: the demo owner with an agent of every tier and the seeded action map; idempotent."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from governance.demo import demo_data_seed
from governance.models import ActionPolicy, Agent, Maturity
from governance.services.decision import SEED_ACTIONS

pytestmark = pytest.mark.django_db


def test_the_demo_owner_gets_an_agent_of_every_tier_and_reruns_change_nothing():
    for _ in range(2):
        demo_data_seed(large=False, stdout=io.StringIO())
    agents = Agent.objects.filter(owner__username="demo")
    assert sorted(agents.values_list("maturity", flat=True)) == sorted(Maturity.values)
    assert ActionPolicy.objects.count() == sum(len(names) for names in SEED_ACTIONS.values())


def test_seed_demo_runs_the_governance_seeder_first():
    from console.management.commands.seed_demo import SEEDERS

    assert SEEDERS[0] == "governance.demo.demo_data_seed"
    ActionPolicy.objects.filter(name="read").delete()
    demo_data_seed(large=False, stdout=io.StringIO())
    assert ActionPolicy.objects.filter(name="read", complexity=1).exists()


def test_the_demo_agents_have_real_activity_once():
    from governance.models import AuditEntry, Proposal

    for _ in range(2):
        demo_data_seed(large=False, stdout=io.StringIO())
    outcomes = set(AuditEntry.objects.values_list("outcome", flat=True))
    assert {"execute", "proposal", "blocked"} <= outcomes
    assert AuditEntry.objects.count() == 4 * 4
    assert Proposal.objects.filter(status="pending", agent__name="demo-intern").exists()


def test_the_large_demo_fills_agents_history_over_several_days_and_proposals(monkeypatch):
    from django.utils import timezone

    from governance import demo
    from governance.models import AuditEntry, Proposal

    monkeypatch.setattr(demo, "LARGE_AUDIT_ROWS", 2_000)
    for _ in range(2):
        demo_data_seed(large=True, stdout=io.StringIO())
    assert Agent.objects.filter(name__startswith="load-").count() == 4 * demo.LARGE_AGENTS_PER_TIER
    history = AuditEntry.objects.filter(reason="demo history")
    assert history.count() == 2_000
    oldest = history.order_by("created_at").values_list("created_at", flat=True).first()
    assert oldest is not None
    assert timezone.now() - oldest > timedelta(days=3)
    assert history.filter(created_at__gte=timezone.now() - timedelta(days=1)).count() >= 900
    assert Proposal.objects.filter(status="pending", agent__name__startswith="load-").count() == demo.LARGE_PENDING_PROPOSALS
