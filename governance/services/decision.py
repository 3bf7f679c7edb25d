"""The decision of SPEC section 3: the action map (data, cached per version) and the decision table.

:func:`governance_decide` is pure given its inputs and cached in process and in the shared cache; every
key carries the agent's maturity, state and the action map's version, so a change is never served stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from atom.errors import DomainError
from governance.models import (
    MATURITY_RANK,
    ActionMapVersion,
    ActionPolicy,
    AgentState,
    Decision,
    Maturity,
)

logger = logging.getLogger("atom.governance")


# --- The action map ----------------------------------------------------------------------------

# The seed of SPEC section 3: action name -> complexity. Not proposable: canvas JavaScript.
SEED_ACTIONS: dict[int, tuple[str, ...]] = {
    1: ("search", "read", "list", "get", "fetch", "summarize", "check", "verify", "memory_search", "present_chart", "present_markdown"),
    2: (
        "analyze",
        "suggest",
        "draft",
        "generate",
        "recommend",
        "propose",
        "plan",
        "stream_chat",
        "present_form",
        "update_canvas",
        "memory_remember",
        "browser_navigate",
        "browser_screenshot",
        "semantic_search",
    ),
    3: (
        "create",
        "update",
        "submit",
        "send_email",
        "send_message",
        "schedule",
        "upload",
        "submit_form",
        "canvas_submit",
        "browser_action",
        "memory_forget",
        "shell_write",
    ),
    4: (
        "delete",
        "execute",
        "deploy",
        "transfer",
        "payment",
        "approve",
        "bulk_delete",
        "bulk_update",
        "write_code_file",
        "terminal_command",
        "canvas_execute_javascript",
        "shell_delete",
        "device_execute_command",
    ),
}
NOT_PROPOSABLE: frozenset[str] = frozenset({"canvas_execute_javascript"})
JAVASCRIPT_ACTION = "canvas_execute_javascript"


@dataclass(frozen=True, slots=True)
class ActionRule:
    """One action of the map, as the decision needs it."""

    complexity: int
    proposable: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of the decision: an outcome (a :class:`Decision` value), the action's complexity, why."""

    outcome: str
    complexity: int | None
    reason: str

    @property
    def runs_now(self) -> bool:
        return self.outcome in (Decision.EXECUTE, Decision.SUPERVISED)


# In-process layers in front of the shared cache. Keys carry every input of the decision (maturity,
# state and the action map's version), so a change is never served stale: it simply misses.
_ACTION_MAPS: dict[int, dict[str, ActionRule]] = {}
_DECISIONS: dict[tuple[int, str, str, int, str], Verdict] = {}
_DECISION_CACHE_MAX = 200_000


def _action_map_cache_key(version: int) -> str:
    return f"governance:action-map:v{version}"


def action_map_load(*, version: int) -> dict[str, ActionRule]:
    """The action map at ``version``: process memory, then the shared cache, then the database."""
    rules = _ACTION_MAPS.get(version)
    if rules is not None:
        return rules
    raw: dict[str, list[Any]] | None = None
    try:
        raw = cache.get(_action_map_cache_key(version))
    except Exception:
        # The shared cache only saves a query; the database stays the source of truth.
        logger.warning("Governance cache unavailable; reading the action map from the database", exc_info=True)
    if raw is None:
        raw = {
            name: [complexity, proposable]
            for name, complexity, proposable in ActionPolicy.objects.values_list("name", "complexity", "proposable")
        }
        try:
            cache.set(_action_map_cache_key(version), raw, settings.GOVERNANCE_ACTION_MAP_CACHE_SECONDS)
        except Exception:
            logger.warning("Governance cache unavailable; the action map is not shared", exc_info=True)
    rules = {name: ActionRule(int(value[0]), bool(value[1])) for name, value in raw.items()}
    # Older versions are dead once a newer one is seen.
    _ACTION_MAPS.clear()
    _ACTION_MAPS[version] = rules
    return rules


def governance_cache_clear(*, action_maps: bool = True) -> None:
    """Forget this process's cached decisions (and action maps unless told not to): tests and benchmarks."""
    if action_maps:
        _ACTION_MAPS.clear()
    _DECISIONS.clear()


def _table(*, maturity: str, rule: ActionRule) -> Verdict:
    """The tier table of SPEC section 3 for an active agent and a known action."""
    tier = MATURITY_RANK[maturity]
    required = rule.complexity
    if required <= tier:
        if tier == MATURITY_RANK[Maturity.SUPERVISED] and required == tier:
            return Verdict(Decision.SUPERVISED, required, "Executed under supervision.")
        return Verdict(Decision.EXECUTE, required, "Within the agent's tier.")
    if maturity == Maturity.STUDENT:
        return Verdict(Decision.BLOCKED, required, "Above a STUDENT's tier: routed to training.")
    if required == tier + 1:
        if not rule.proposable:
            return Verdict(Decision.BLOCKED, required, "Above the agent's tier and not proposable.")
        return Verdict(Decision.PROPOSAL, required, "One tier above the agent: needs human approval.")
    return Verdict(Decision.BLOCKED, required, "Two or more tiers above the agent.")


def governance_decide(*, agent_id: int, maturity: str, state: str, map_version: int, action: str) -> Verdict:
    """The decision for an agent already known to be the caller's (cached per agent and action).

    Ownership is the caller's check; this covers state, the action map (deny by default) and the tier table.
    """
    key = (agent_id, maturity, state, map_version, action)
    verdict = _DECISIONS.get(key)
    if verdict is not None:
        return verdict
    if state != AgentState.ACTIVE:
        verdict = Verdict(Decision.INACTIVE, None, f"The agent is {state}.")
    else:
        rule = action_map_load(version=map_version).get(action)
        verdict = Verdict(Decision.UNKNOWN_ACTION, None, "Unknown action.") if rule is None else _table(maturity=maturity, rule=rule)
    if len(_DECISIONS) >= _DECISION_CACHE_MAX:
        _DECISIONS.clear()
    _DECISIONS[key] = verdict
    return verdict


def action_map_touch() -> None:
    """Move the action map's version, so every cached decision and map misses from now on."""
    updated = ActionMapVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        ActionMapVersion.objects.get_or_create(pk=1, defaults={"version": 2})


@transaction.atomic
def action_policy_save(*, name: str, complexity: int, proposable: bool, description: str = "") -> ActionPolicy:
    """Create or change one entry of the action map and invalidate cached decisions."""
    name = name.strip().lower()
    if not name or not 1 <= complexity <= 4:
        raise DomainError("An action needs a name and a complexity from 1 to 4.", code="VALIDATION_ERROR")
    if name in NOT_PROPOSABLE:
        proposable = False
    policy, _ = ActionPolicy.objects.update_or_create(
        name=name, defaults={"complexity": complexity, "proposable": proposable, "description": description}
    )
    action_map_touch()
    return policy


@transaction.atomic
def action_policy_delete(*, policy: ActionPolicy) -> None:
    """Remove an action from the map (it becomes unknown, hence denied) and invalidate cached decisions."""
    policy.delete()
    action_map_touch()


def action_map_seed() -> int:
    """Ensure every action of SPEC section 3 is in the map; return how many were added. Idempotent."""
    existing = set(ActionPolicy.objects.values_list("name", flat=True))
    missing = [
        ActionPolicy(name=name, complexity=complexity, proposable=name not in NOT_PROPOSABLE)
        for complexity, names in SEED_ACTIONS.items()
        for name in names
        if name not in existing
    ]
    ActionPolicy.objects.bulk_create(missing)
    if missing:
        action_map_touch()
    return len(missing)
