"""P2: a governance decision with nothing cached for it: the agent row (with the action map version) read
from the database, then the tier table. Side by side: a bare primary-key read of the same row through the
ORM, and a bare ``SELECT 1`` round trip (the PostgreSQL target: p99 <= 3x that round trip)."""

from __future__ import annotations

from decimal import Decimal

from bench.harness import Result, interleaved, interleaved_many, median, percentile

ID = "P2"


def run(scale: float) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from governance.models import Agent, Maturity
    from governance.selectors import agent_with_map_version
    from governance.services.decision import governance_cache_clear, governance_decide

    owner = get_user_model().objects.create_user(username="bench-p2", password="bench-password-123")
    agents = [
        Agent.objects.create(owner=owner, name=f"a{index}", maturity=tier, confidence=Decimal("0.95"), budget=Decimal("10"))
        for index, tier in enumerate(list(Maturity) * 25)
    ]
    state = {"index": 0}

    def decide() -> None:
        agent_id = agents[state["index"] % len(agents)].pk
        state["index"] += 1
        governance_cache_clear(action_maps=False)
        found = agent_with_map_version(agent_id=agent_id)
        assert found is not None
        assert found[0].owner_id == owner.pk
        agent, version = found
        governance_decide(agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=version, action="send_email")

    def bare_read() -> None:
        Agent.objects.filter(pk=agents[state["index"] % len(agents)].pk).first()

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def cold() -> None:
        governance_cache_clear()
        decide()

    count = max(500, int(5000 * scale))
    uncached, bare, round_trip = interleaved_many([decide, bare_read, select_one], count=count, warmup=100)
    cold_samples, _ = interleaved(cold, bare_read, count=max(200, count // 5), warmup=20)
    database = connection.vendor
    p99, bare_p99 = percentile(uncached, 99), percentile(bare, 99)
    p50, bare_p50 = median(uncached), median(bare)
    return [
        Result(ID, "uncached decision p99", p99, "ms", "<= 0.3 ms on SQLite", bare_p99, p99 / bare_p99, database, scale),
        Result(ID, "uncached decision p50", p50, "ms", "(p50)", bare_p50, p50 / bare_p50, database, scale),
        Result(
            ID,
            "uncached decision p99 vs SELECT 1 p99",
            p99,
            "ms",
            "ratio <= 3 on PostgreSQL",
            percentile(round_trip, 99),
            p99 / percentile(round_trip, 99),
            database,
            scale,
        ),
        Result(ID, "decision with action map also cold p99", percentile(cold_samples, 99), "ms", "(info)", bare_p99, None, database, scale),
    ]
