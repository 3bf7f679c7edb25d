"""P1: governance decisions served from the in-process cache, on one core.

The cache is keyed by every input of the decision (agent, maturity, state, action map version, action),
so a hit is always current. Side by side: the same number of calls to a no-op function with the same
signature, the floor any Python-level API pays.
"""

from __future__ import annotations

import time

from bench.harness import Result

ID = "P1"


def _noop(*, agent_id: int, maturity: str, state: str, map_version: int, action: str) -> None:
    return None


def run(scale: float) -> list[Result]:
    from django.db import connection

    from governance.selectors import action_map_version_get
    from governance.services.decision import SEED_ACTIONS, governance_cache_clear, governance_decide

    governance_cache_clear()
    version = action_map_version_get()
    tiers = ("STUDENT", "INTERN", "SUPERVISED", "AUTONOMOUS")
    actions = [name for names in SEED_ACTIONS.values() for name in names]
    # 64 agents x 4 tiers x every action: a working set far larger than one key, all warm.
    keys = [(agent_id, tiers[agent_id % 4], action) for agent_id in range(1, 65) for action in actions]
    for agent_id, tier, action in keys:
        governance_decide(agent_id=agent_id, maturity=tier, state="active", map_version=version, action=action)
    calls = max(100_000, int(2_000_000 * scale))
    rounds = calls // len(keys) + 1

    def measure(fn) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            for agent_id, tier, action in keys:
                fn(agent_id=agent_id, maturity=tier, state="active", map_version=version, action=action)
        return rounds * len(keys) / (time.perf_counter() - start)

    best_decide = best_noop = 0.0
    for _ in range(3):
        best_decide = max(best_decide, measure(governance_decide))
        best_noop = max(best_noop, measure(_noop))
    ratio = best_decide / best_noop
    metric = "cached decisions per second (one core)"
    return [Result(ID, metric, round(best_decide), "decisions/s", ">= 1,000,000", round(best_noop), ratio, connection.vendor, scale)]
