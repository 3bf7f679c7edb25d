"""Writes and decisions of the governance app.

The decision of SPEC section 3 lives in :func:`governance_decide`; everything that lets an agent act
(the action route, canvases, the episodes app through :func:`agent_access_authorize`) goes through it
and writes exactly one audit row per decision. Refusals execute nothing and charge nothing.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

import nh3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import DecimalField, F, Value
from django.db.models.functions import Greatest, Least, Round
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from tqdm import tqdm

from atom.errors import ConflictError, DomainError, ForbiddenError, NotFoundError, RateLimitedError
from atom.principals import ACTING_AGENT_CLAIM
from atom.ratelimit import rate_limit_enforce
from governance.models import (
    MATURITY_FLOOR,
    MATURITY_RANK,
    RANK_MATURITY,
    ActionExecution,
    ActionMapVersion,
    ActionPolicy,
    Agent,
    AgentFeedback,
    AgentOutcome,
    AgentState,
    AuditEntry,
    Canvas,
    CanvasAudit,
    CanvasKind,
    Decision,
    ExecutionStatus,
    Maturity,
    MaturityChange,
    MaturityChangeKind,
    Proposal,
    ProposalStatus,
    SupervisionSession,
    SupervisionStatus,
)
from governance.selectors import AGENT_NOT_FOUND, action_map_version_get, agent_principal_confine, agent_with_map_version

logger = logging.getLogger("atom.governance")

ZERO = Decimal("0")
ONE = Decimal("1")
FOUR_PLACES = Decimal("0.0001")
CENTS = Decimal("0.01")

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


# --- Audit -------------------------------------------------------------------------------------


def audit_record(
    *,
    agent: Agent | None,
    actor: Any,
    action: str,
    verdict_outcome: str,
    reason: str,
    complexity: int | None = None,
    cost: Decimal = ZERO,
    request_id: str = "",
) -> AuditEntry:
    """Append one audit row: the agent's tier and confidence at decision time, the outcome and why."""
    return AuditEntry.objects.create(
        agent=agent,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action[:100],
        complexity=complexity,
        maturity=agent.maturity if agent is not None else "",
        confidence=agent.confidence if agent is not None else None,
        outcome=verdict_outcome,
        reason=reason[:300],
        cost=cost,
        request_id=request_id[:64],
    )


# --- Budget ------------------------------------------------------------------------------------


_CHARGE_SQL: dict[str, str] = {}


def _charge_sql() -> str:
    """The charge as one statement, prepared once per database vendor (it runs on every paid action)."""
    sql = _CHARGE_SQL.get(connection.vendor)
    if sql is None:
        table = connection.ops.quote_name(Agent._meta.db_table)
        spent_before = "(CASE WHEN spend_day = %(day)s THEN spent_today ELSE 0 END)"
        sql = _CHARGE_SQL[connection.vendor] = (
            f"UPDATE {table} SET budget = ROUND(budget - %(cost)s, 2), "  # noqa: S608  # nosec B608 - identifiers from model metadata
            f"spent_today = ROUND({spent_before} + %(cost)s, 2), spend_day = %(day)s "
            f"WHERE id = %(id)s AND budget >= %(cost)s AND {spent_before} + %(cost)s <= daily_spend_cap"
        )
    return sql


def agent_budget_charge(*, agent_id: int, cost: Decimal, today: date | None = None) -> bool:
    """Charge ``cost`` in ONE conditional UPDATE; True if it held the balance >= 0 and the daily cap.

    The WHERE clause is the guard and the CHECK constraints on budget and spend are the backstop, so
    concurrent charges can never overdraw, whatever the isolation level. Amounts are rounded to cents in
    the statement so SQLite's floating arithmetic never drifts below zero.
    """
    if cost < ZERO:
        raise DomainError("A cost cannot be negative.", code="VALIDATION_ERROR")
    if cost == ZERO:
        return True
    day = today or timezone.localdate()
    params = {"cost": cost, "day": day if connection.vendor == "postgresql" else day.isoformat(), "id": agent_id}
    with connection.cursor() as cursor:
        cursor.execute(_charge_sql(), params)
        return cursor.rowcount == 1


# --- Confidence, demotion, promotion -------------------------------------------------------------


def maturity_for_confidence(confidence: Decimal) -> str:
    """The tier whose band contains ``confidence``."""
    for tier in (Maturity.AUTONOMOUS, Maturity.SUPERVISED, Maturity.INTERN):
        if confidence >= MATURITY_FLOOR[tier]:
            return tier
    return Maturity.STUDENT


def confidence_delta(*, positive: bool, high_impact: bool) -> Decimal:
    """High impact +0.05 / -0.10, low impact +0.01 / -0.02."""
    if high_impact:
        return Decimal("0.05") if positive else Decimal("-0.10")
    return Decimal("0.01") if positive else Decimal("-0.02")


@dataclass(frozen=True)
class ConfidenceChange:
    """What a confidence update did."""

    confidence: Decimal
    maturity: str
    demoted_from: str | None


def _maturity_change_record(
    *, agent: Agent, to: str, kind: str, reason: str, actor: Any = None, evidence: dict[str, Any] | None = None
) -> None:
    MaturityChange.objects.create(
        agent=agent,
        actor=actor if getattr(actor, "pk", None) else None,
        from_maturity=agent.maturity,
        to_maturity=to,
        kind=kind,
        reason=reason[:500],
        evidence=evidence or {},
    )


@transaction.atomic
def agent_confidence_update(*, agent_id: int, delta: Decimal, guardrail_violation: bool = False, reason: str = "") -> ConfidenceChange:
    """Move confidence by ``delta`` (clamped to [0, 1], 4 decimals) and demote at once if it falls below
    the tier's floor, or to at most SUPERVISED on a guardrail violation. Never promotes.

    The arithmetic happens in the UPDATE itself, so concurrent updates add up instead of overwriting;
    the row lock it takes is held until commit, so the demotion check reads the value just written.
    """
    decimal = DecimalField(max_digits=5, decimal_places=4)
    new_value = Round(
        Greatest(Least(F("confidence") + Value(delta, output_field=decimal), Value(ONE)), Value(ZERO)), 4, output_field=decimal
    )
    if not Agent.objects.filter(pk=agent_id).update(confidence=new_value):
        raise NotFoundError(AGENT_NOT_FOUND)
    agent = Agent.objects.get(pk=agent_id)
    confidence = Decimal(agent.confidence).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
    supported = maturity_for_confidence(confidence)
    target_rank = MATURITY_RANK[supported]
    kind = MaturityChangeKind.CONFIDENCE_DEMOTION
    if guardrail_violation and MATURITY_RANK[Maturity.SUPERVISED] < target_rank:
        target_rank = MATURITY_RANK[Maturity.SUPERVISED]
    if guardrail_violation:
        kind = MaturityChangeKind.GUARDRAIL_DEMOTION
    demoted_from = None
    if target_rank < MATURITY_RANK[agent.maturity]:
        target = RANK_MATURITY[target_rank]
        demoted_from = agent.maturity
        _maturity_change_record(
            agent=agent, to=target, kind=kind, reason=reason or f"Confidence {confidence} below the {agent.maturity} floor."
        )
        Agent.objects.filter(pk=agent_id).update(maturity=target)
        agent.maturity = target
    return ConfidenceChange(confidence=confidence, maturity=agent.maturity, demoted_from=demoted_from)


@transaction.atomic
def agent_feedback_record(
    *, agent: Agent, reviewer: Any, positive: bool, high_impact: bool, guardrail_violation: bool = False, comment: str = ""
) -> AgentFeedback:
    """Record reviewed feedback and apply its confidence change (and any demotion) immediately."""
    change = agent_confidence_update(
        agent_id=agent.pk,
        delta=confidence_delta(positive=positive, high_impact=high_impact),
        guardrail_violation=guardrail_violation,
        reason="Guardrail violation reported in feedback." if guardrail_violation else "",
    )
    return AgentFeedback.objects.create(
        agent=agent,
        reviewer=reviewer,
        positive=positive,
        high_impact=high_impact,
        guardrail_violation=guardrail_violation,
        comment=comment,
        confidence_after=change.confidence,
    )


def agent_outcome_record(*, agent_id: int, reference: str, success: bool, interventions: int, constitutional_score: float) -> None:
    """Record the outcome of one completed episode (graduation evidence). Idempotent on (agent, reference)."""
    if not reference or len(reference) > 200:
        raise DomainError("An outcome needs a reference of 1 to 200 characters.", code="VALIDATION_ERROR")
    if interventions < 0 or not 0.0 <= constitutional_score <= 1.0:
        raise DomainError("Interventions must be ≥ 0 and the constitutional score in [0, 1].", code="VALIDATION_ERROR")
    confidence = Agent.objects.filter(pk=agent_id).values_list("confidence", flat=True).first()
    if confidence is None:
        raise NotFoundError(AGENT_NOT_FOUND)
    AgentOutcome.objects.get_or_create(
        agent_id=agent_id,
        reference=reference,
        defaults={
            "success": success,
            "interventions": interventions,
            "constitutional_score": constitutional_score,
            "confidence": confidence,
        },
    )


@dataclass(frozen=True)
class GraduationCriteria:
    """What a tier asks of an agent's recent episodes."""

    min_episodes: int
    max_intervention_rate: float
    min_constitutional: float
    min_readiness: float


GRADUATION_CRITERIA: dict[str, GraduationCriteria] = {
    Maturity.INTERN: GraduationCriteria(10, 0.5, 0.70, 0.70),
    Maturity.SUPERVISED: GraduationCriteria(25, 0.2, 0.85, 0.80),
    Maturity.AUTONOMOUS: GraduationCriteria(50, 0.0, 0.95, 0.95),
}


@dataclass(frozen=True)
class GraduationReport:
    """The evidence for one promotion, and whether it meets the criteria."""

    target: str
    episodes: int
    intervention_rate: float
    mean_constitutional: float
    mean_confidence: float
    success_rate: float
    readiness: float
    confidence: float
    eligible: bool
    unmet: list[str] = field(default_factory=list)

    def as_evidence(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "episodes": self.episodes,
            "intervention_rate": self.intervention_rate,
            "mean_constitutional": self.mean_constitutional,
            "mean_confidence": self.mean_confidence,
            "success_rate": self.success_rate,
            "readiness": self.readiness,
            "confidence": self.confidence,
            "unmet": self.unmet,
        }


def readiness_score(*, zero_intervention_ratio: float, mean_constitutional: float, mean_confidence: float, success_rate: float) -> float:
    """0.40·zero-intervention ratio + 0.30·constitutional + 0.20·confidence + 0.10·success, clamped to [0, 1]."""
    score = 0.40 * zero_intervention_ratio + 0.30 * mean_constitutional + 0.20 * mean_confidence + 0.10 * success_rate
    return round(min(1.0, max(0.0, score)), 4)


def graduation_evaluate(*, agent: Agent, target: str | None = None) -> GraduationReport:
    """Measure the agent's recent episodes against the criteria of ``target`` (default: the next tier)."""
    rank = MATURITY_RANK[agent.maturity]
    target = target or RANK_MATURITY.get(rank + 1, Maturity.AUTONOMOUS)
    criteria = GRADUATION_CRITERIA.get(target)
    rows = list(
        AgentOutcome.objects.filter(agent=agent)
        .order_by("-id")
        .values_list("success", "interventions", "constitutional_score", "confidence")[: settings.GOVERNANCE_GRADUATION_WINDOW]
    )
    count = len(rows)
    zero = sum(1 for row in rows if row[1] == 0) / count if count else 0.0
    constitutional = sum(row[2] for row in rows) / count if count else 0.0
    mean_confidence = float(sum(Decimal(row[3]) for row in rows) / count) if count else 0.0
    success = sum(1 for row in rows if row[0]) / count if count else 0.0
    readiness = readiness_score(
        zero_intervention_ratio=zero, mean_constitutional=constitutional, mean_confidence=mean_confidence, success_rate=success
    )
    intervention_rate = round(1.0 - zero, 4) if count else 1.0
    confidence = float(agent.confidence)
    unmet: list[str] = []
    if criteria is None or MATURITY_RANK[target] <= rank:
        unmet.append(f"{target} is not above {agent.maturity}.")
    else:
        if count < criteria.min_episodes:
            unmet.append(f"needs ≥ {criteria.min_episodes} episodes, has {count}")
        if intervention_rate > criteria.max_intervention_rate:
            unmet.append(f"intervention rate {intervention_rate} > {criteria.max_intervention_rate}")
        if constitutional < criteria.min_constitutional:
            unmet.append(f"constitutional score {constitutional:.4f} < {criteria.min_constitutional}")
        if readiness < criteria.min_readiness:
            unmet.append(f"readiness {readiness} < {criteria.min_readiness}")
        if maturity_for_confidence(Decimal(agent.confidence)) != target:
            unmet.append(f"confidence {confidence} outside the {target} band")
    return GraduationReport(
        target=target,
        episodes=count,
        intervention_rate=intervention_rate,
        mean_constitutional=round(constitutional, 4),
        mean_confidence=round(mean_confidence, 4),
        success_rate=round(success, 4),
        readiness=readiness,
        confidence=confidence,
        eligible=not unmet,
        unmet=unmet,
    )


@transaction.atomic
def agent_graduate(*, agent_id: int, actor: Any = None) -> GraduationReport:
    """Promote the agent one tier if its evidence meets the criteria; the report says why not otherwise."""
    agent = Agent.objects.select_for_update().filter(pk=agent_id).first()
    if agent is None:
        raise NotFoundError(AGENT_NOT_FOUND)
    report = graduation_evaluate(agent=agent)
    if report.eligible:
        _maturity_change_record(
            agent=agent,
            to=report.target,
            kind=MaturityChangeKind.GRADUATION,
            reason="Graduation criteria met.",
            actor=actor,
            evidence=report.as_evidence(),
        )
        Agent.objects.filter(pk=agent_id, maturity=agent.maturity).update(maturity=report.target)
    return report


@transaction.atomic
def agent_maturity_set_by_admin(*, agent_id: int, actor: Any, maturity: str, reason: str) -> Agent:
    """An operator promotes or demotes an agent; the reason is required and recorded."""
    if not reason.strip():
        raise DomainError("A reason is required to change an agent's tier.", code="VALIDATION_ERROR")
    if maturity not in MATURITY_RANK:
        raise DomainError("Unknown tier.", code="VALIDATION_ERROR")
    agent = Agent.objects.select_for_update().filter(pk=agent_id).first()
    if agent is None:
        raise NotFoundError(AGENT_NOT_FOUND)
    if maturity == agent.maturity:
        return agent
    promotion = MATURITY_RANK[maturity] > MATURITY_RANK[agent.maturity]
    kind = MaturityChangeKind.ADMIN_PROMOTION if promotion else MaturityChangeKind.ADMIN_DEMOTION
    _maturity_change_record(agent=agent, to=maturity, kind=kind, reason=reason, actor=actor)
    update: dict[str, Any] = {"maturity": maturity}
    # The tier and its confidence band must agree, or the next feedback would demote at once.
    band_floor = MATURITY_FLOOR[maturity]
    band_ceiling = MATURITY_FLOOR[RANK_MATURITY[MATURITY_RANK[maturity] + 1]] - FOUR_PLACES if MATURITY_RANK[maturity] < 4 else ONE
    confidence = min(max(Decimal(agent.confidence), band_floor), band_ceiling)
    update["confidence"] = confidence
    Agent.objects.filter(pk=agent_id).update(**update)
    agent.maturity, agent.confidence = maturity, confidence
    return agent


def agent_state_set(*, agent_id: int, state: str) -> None:
    """Pause, resume or stop an agent; cached decisions key on the state, so it applies at once."""
    if state not in AgentState.values:
        raise DomainError("Unknown state.", code="VALIDATION_ERROR")
    if not Agent.objects.filter(pk=agent_id).update(state=state):
        raise NotFoundError(AGENT_NOT_FOUND)


# --- Agents ------------------------------------------------------------------------------------


def agent_create(*, owner: Any, name: str, category: str = "", capabilities: list[str] | None = None) -> Agent:
    """A new agent: STUDENT at the configured starting confidence, no budget, the default daily cap."""
    return Agent.objects.create(
        owner=owner,
        name=name,
        category=category,
        capabilities=capabilities or [],
        maturity=Maturity.STUDENT,
        confidence=Decimal(str(settings.GOVERNANCE_INITIAL_CONFIDENCE)).quantize(FOUR_PLACES),
        daily_spend_cap=Decimal(settings.GOVERNANCE_DAILY_SPEND_CAP),
    )


def agent_update(*, agent: Agent, name: str | None = None, category: str | None = None, capabilities: list[str] | None = None) -> Agent:
    """Change the safe fields of an agent (never maturity, confidence, owner, state or budget)."""
    fields = {"name": name, "category": category, "capabilities": capabilities}
    changed = [key for key, value in fields.items() if value is not None]
    for key in changed:
        setattr(agent, key, fields[key])
    if changed:
        agent.save(update_fields=[*changed, "updated_at"])
    return agent


def agent_funds_set(*, agent_id: int, budget: Decimal, daily_spend_cap: Decimal) -> None:
    """An operator sets an agent's budget and daily cap (never possible through the API)."""
    if budget < ZERO or daily_spend_cap < ZERO:
        raise DomainError("Budget and daily cap cannot be negative.", code="VALIDATION_ERROR")
    if not Agent.objects.filter(pk=agent_id).update(budget=budget, daily_spend_cap=daily_spend_cap):
        raise NotFoundError(AGENT_NOT_FOUND)


# --- Canvas ------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_ALLOWED_SCHEMES = {"http", "https", "mailto"}

# What JavaScript allows between two tokens: whitespace and comments. The blocklist matches across it
# in the code as written (nothing is stripped first), so a comment cannot split a blocked construct
# and a quoted "//" or "/*" cannot hide one. Possessive, so a failed match never backtracks through it.
_GAP = r"(?:\s|/\*(?:[^*]|\*(?!/))*+\*/|//[^\n]*+)*+"

# Case-insensitive (unless marked otherwise); each names what it closes.
_SCRIPT_BLOCKLIST: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ("\\u or \\x escape", r"\\[ux]"),
        ("eval", r"\beval\b"),
        ("Function constructor", rf"\bFunction{_GAP}\(|(?-i:\bFunction\b)"),
        ("constructor access", rf"\.{_GAP}constructor\b|\[{_GAP}[\"'`]constructor\b"),
        ("timer with a string", rf"\bset(?:Timeout|Interval){_GAP}\({_GAP}[\"'`]"),
        ("cookie access", rf"\bdocument{_GAP}\.{_GAP}cookie\b|\bcookie\b"),
        ("storage access", r"\b(?:localStorage|sessionStorage|indexedDB)\b"),
        (
            "window.location/top/parent",
            rf"\b(?:window|self|globalThis){_GAP}\.{_GAP}(?:location|top|parent|opener)\b"
            rf"|\blocation{_GAP}\.{_GAP}(?:href|assign|replace)\b|\b(?:top|parent){_GAP}\.{_GAP}location\b",
        ),
        ("location assignment", rf"\blocation{_GAP}=(?!=)|\bdocument{_GAP}\.{_GAP}location\b"),
        ("fetch", r"\bfetch\b"),
        ("XMLHttpRequest", r"\bXMLHttpRequest\b"),
        ("sendBeacon", r"\bsendBeacon\b"),
        ("document.write", rf"\bdocument{_GAP}\.{_GAP}write(?:ln)?\b"),
        ("script-element creation", rf"createElement{_GAP}\({_GAP}[\"'`]\s*script"),
        ("namespaced element creation", r"\bcreateElementNS\b"),
        ("innerHTML", r"\b(?:inner|outer)HTML\b|\binsertAdjacentHTML\b"),
        ("bracket access", rf"\b(?:document|window|self|globalThis|localStorage|sessionStorage){_GAP}\["),
        ("import", rf"\bimport{_GAP}\("),
        ("WebSocket", r"\bWebSocket\b"),
    )
)


def canvas_sanitize(text: str) -> str:
    """Allow-list sanitizing of canvas HTML (and of the HTML in markdown): no script, style, iframe, object, embed,
    event handlers, ``javascript:`` or ``data:`` URLs (nh3 drops what is not allowed)."""
    return nh3.clean(
        text,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_ALLOWED_SCHEMES,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer nofollow",
    )


# Where a markdown link or image destination starts: after "](" (an inline link) or "]:" (a reference
# definition), past spaces and at most one line break.
_MARKDOWN_DESTINATION = re.compile(r"\](\(|:)[ \t]*(?:\n[ \t]*)?")
_URL_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
# Blockquote markers at the start of a line, which the HTML sanitizer escapes.
_MARKDOWN_QUOTE_MARKERS = re.compile(r"^(?:[ \t]*&gt;)+", re.MULTILINE)


def _markdown_destination_end(text: str, start: int, limit: int, *, inline: bool) -> int:
    """The end of the destination at ``start`` (never past ``limit``): after its ``>`` if it is bracketed,
    else at whitespace or, in an inline link, at the parenthesis that closes the link."""
    if text.startswith("<", start):
        close = text.find(">", start, limit)
        return limit if close < 0 else close + 1
    end, depth = start, 0
    while end < limit and (text[end] == "\t" or not text[end].isspace()):  # a browser drops tabs from a URL
        char = text[end]
        if char == "\\":
            end += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            if inline and depth == 0:
                break
            depth -= 1
        end += 1
    return min(end, limit)


def _markdown_destination_allowed(destination: str) -> bool:
    """Whether a link destination is relative or uses an allowed scheme, read as a markdown renderer and a
    browser would: entities decoded, backslash escapes dropped, whitespace and control characters ignored."""
    url = html.unescape(destination.strip("<>")).replace("\\", "")
    url = "".join(char for char in url if char > " " and char != "\x7f")
    scheme = _URL_SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() in _ALLOWED_SCHEMES


def canvas_markdown_sanitize(text: str) -> str:
    """Sanitize a markdown canvas: its HTML as ``canvas_sanitize`` does, then every link and image
    destination whose scheme is not allowed (``javascript:``, ``data:``…) becomes ``#``, as the HTML
    sanitizer drops such URLs. Blockquote markers the HTML sanitizer escaped are given back."""
    cleaned = canvas_sanitize(text)
    parts: list[str] = []
    position = 0
    # Each destination is read up to the next one at most, so the text is read once however it is made.
    matches = list(_MARKDOWN_DESTINATION.finditer(cleaned))
    for index, match in enumerate(matches):
        start = match.end()
        limit = matches[index + 1].start() if index + 1 < len(matches) else len(cleaned)
        end = _markdown_destination_end(cleaned, start, limit, inline=match.group(1) == "(")
        if end > start and not _markdown_destination_allowed(cleaned[start:end]):
            parts += [cleaned[position:start], "#"]
            position = end
    parts.append(cleaned[position:])
    return _MARKDOWN_QUOTE_MARKERS.sub(lambda quote: quote.group(0).replace("&gt;", ">"), "".join(parts))


def canvas_script_problem(code: str) -> str | None:
    """Why a script may not be stored (empty, over the size limit, or a blocklisted pattern), else None."""
    if not code.strip():
        return "The script is empty."
    if len(code.encode("utf-8")) > settings.GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES:
        return f"The script is larger than {settings.GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES} bytes."
    for label, pattern in _SCRIPT_BLOCKLIST:
        if pattern.search(code):
            return f"The script uses a blocked construct: {label}."
    return None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def canvas_audit_record(*, canvas: Canvas, actor: Any, code: str, outcome: str, reason: str = "", request_id: str = "") -> CanvasAudit:
    """One canvas-audit row for a JavaScript request: the code's hash and size, never the code itself."""
    return CanvasAudit.objects.create(
        canvas=canvas,
        agent_id=canvas.agent_id,
        actor=actor,
        code_hash=code_hash(code),
        code_bytes=len(code.encode("utf-8")),
        outcome=outcome,
        reason=reason[:300],
        request_id=request_id[:64],
    )


def _canvas_content(kind: str, params: dict[str, Any]) -> tuple[str, Any]:
    """Validate canvas parameters for ``kind`` and return (sanitized text, JSON data)."""
    if kind in (CanvasKind.MARKDOWN, CanvasKind.HTML):
        content = params.get("content", "")
        if not isinstance(content, str) or len(content) > 200_000:
            raise DomainError("content must be a string of at most 200,000 characters.", code="VALIDATION_ERROR")
        return (canvas_markdown_sanitize(content) if kind == CanvasKind.MARKDOWN else canvas_sanitize(content)), None
    data = params.get("data") if kind == CanvasKind.CHART else params.get("schema")
    if not isinstance(data, dict):
        raise DomainError(
            f"A {kind} canvas needs a JSON object in {'data' if kind == CanvasKind.CHART else 'schema'}.", code="VALIDATION_ERROR"
        )
    return "", data


def _canvas_title(params: dict[str, Any]) -> str:
    title = params.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise DomainError("title must be a string of at most 200 characters.", code="VALIDATION_ERROR")
    return nh3.clean(title, tags=set())


def _owned_canvas(agent: Agent, params: dict[str, Any]) -> Canvas:
    canvas_id = params.get("canvas_id")
    if not isinstance(canvas_id, int) or isinstance(canvas_id, bool):
        raise DomainError("canvas_id must be an integer.", code="VALIDATION_ERROR")
    canvas = Canvas.objects.filter(pk=canvas_id, agent=agent).first()
    if canvas is None:
        raise NotFoundError("Canvas not found.")
    return canvas


# --- Executing allowed actions -------------------------------------------------------------------


@dataclass
class ActionContext:
    """Everything a handler needs: the agent (already authorized), the actor, the parameters."""

    agent: Agent
    actor: Any
    action: str
    params: dict[str, Any]
    request_id: str


@dataclass(frozen=True)
class ActionHandler:
    """An action Atom can really perform: ``validate`` runs before any charge, ``perform`` inside it."""

    validate: Callable[[ActionContext], None]
    perform: Callable[[ActionContext], dict[str, Any]]


_PRESENT_KINDS = {"present_markdown": CanvasKind.MARKDOWN, "present_chart": CanvasKind.CHART, "present_form": CanvasKind.FORM}


def _present_validate(context: ActionContext) -> None:
    _canvas_title(context.params)
    _canvas_content(_PRESENT_KINDS[context.action], context.params)


def _present_perform(context: ActionContext) -> dict[str, Any]:
    kind = _PRESENT_KINDS[context.action]
    content, data = _canvas_content(kind, context.params)
    canvas = Canvas.objects.create(agent=context.agent, kind=kind, title=_canvas_title(context.params), content=content, data=data)
    return {"canvas_id": canvas.pk}


def _update_validate(context: ActionContext) -> None:
    if "title" in context.params:
        _canvas_title(context.params)
    if "canvas_id" not in context.params:
        _canvas_content(CanvasKind.HTML, context.params)
        return
    canvas = _owned_canvas(context.agent, context.params)
    if _has_content(canvas.kind, context.params):
        _canvas_content(canvas.kind, context.params)


def _has_content(kind: str, params: dict[str, Any]) -> bool:
    key = {CanvasKind.CHART: "data", CanvasKind.FORM: "schema"}.get(CanvasKind(kind), "content")
    return key in params


def _update_perform(context: ActionContext) -> dict[str, Any]:
    """Update the named canvas, or create an HTML canvas when no canvas_id is given."""
    if "canvas_id" not in context.params:
        content, _ = _canvas_content(CanvasKind.HTML, context.params)
        created = Canvas.objects.create(agent=context.agent, kind=CanvasKind.HTML, title=_canvas_title(context.params), content=content)
        return {"canvas_id": created.pk}
    canvas = _owned_canvas(context.agent, context.params)
    if "title" in context.params:
        canvas.title = _canvas_title(context.params)
    if _has_content(canvas.kind, context.params):
        canvas.content, canvas.data = _canvas_content(canvas.kind, context.params)
    canvas.save(update_fields=["title", "content", "data", "updated_at"])
    return {"canvas_id": canvas.pk}


def _script_code(params: dict[str, Any]) -> str:
    code = params.get("code")
    if not isinstance(code, str):
        raise DomainError("code must be a string.", code="VALIDATION_ERROR")
    return code


def _script_validate(context: ActionContext) -> None:
    canvas = _owned_canvas(context.agent, context.params)
    code = _script_code(context.params)
    problem = canvas_script_problem(code)
    if problem is not None:
        canvas_audit_record(canvas=canvas, actor=context.actor, code=code, outcome="refused", reason=problem, request_id=context.request_id)
        raise ForbiddenError(problem, code="CANVAS_SCRIPT_REFUSED")


def _script_perform(context: ActionContext) -> dict[str, Any]:
    canvas = _owned_canvas(context.agent, context.params)
    stored = canvas_script_store(canvas=canvas, actor=context.actor, code=_script_code(context.params), request_id=context.request_id)
    return {"canvas_id": stored.pk, "code_hash": stored.script_hash}


ACTION_HANDLERS: dict[str, ActionHandler] = {
    **dict.fromkeys(_PRESENT_KINDS, ActionHandler(_present_validate, _present_perform)),
    "update_canvas": ActionHandler(_update_validate, _update_perform),
    JAVASCRIPT_ACTION: ActionHandler(_script_validate, _script_perform),
}


def canvas_script_store(*, canvas: Canvas, actor: Any, code: str, request_id: str = "") -> Canvas:
    """Store a script on a canvas. Checked again here, where it is stored: the agent must be AUTONOMOUS
    and active right now (read under a row lock), and the code must pass the size limit and blocklist.
    Atom never executes the script."""
    agent = Agent.objects.select_for_update().get(pk=canvas.agent_id)
    if agent.maturity != Maturity.AUTONOMOUS or agent.state != AgentState.ACTIVE:
        raise ForbiddenError("Only an active AUTONOMOUS agent may run JavaScript on a canvas.", code="MATURITY_INSUFFICIENT")
    problem = canvas_script_problem(code)
    if problem is not None:
        raise ForbiddenError(problem, code="CANVAS_SCRIPT_REFUSED")
    canvas.script = code
    canvas.script_hash = code_hash(code)
    canvas.save(update_fields=["script", "script_hash", "updated_at"])
    canvas_audit_record(canvas=canvas, actor=actor, code=code, outcome="stored", request_id=request_id)
    return canvas


def action_perform(*, context: ActionContext, cost: Decimal, proposal: Proposal | None = None) -> ActionExecution:
    """Run an allowed, already-charged action through the registry. Actions Atom cannot perform itself
    are recorded with their parameters for the agent's runtime, never answered with a made-up result."""
    handler = ACTION_HANDLERS.get(context.action)
    if handler is None:
        status, result = ExecutionStatus.RECORDED, None
    else:
        status, result = ExecutionStatus.COMPLETED, handler.perform(context)
    return ActionExecution.objects.create(
        agent=context.agent,
        actor=context.actor,
        action=context.action,
        params=context.params,
        cost=cost,
        status=status,
        result=result,
        proposal=proposal,
        request_id=context.request_id[:64],
    )


# --- The governed request ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionOutcome:
    """What an allowed request produced: an execution (maybe supervised) or a pending proposal."""

    decision: str
    agent: Agent
    execution: ActionExecution | None = None
    proposal: Proposal | None = None
    supervision: SupervisionSession | None = None


_REFUSALS: dict[str, tuple[type[DomainError], str, int]] = {
    Decision.INACTIVE: (ForbiddenError, "AGENT_INACTIVE", 403),
    Decision.UNKNOWN_ACTION: (DomainError, "ACTION_UNKNOWN", 403),
    Decision.BLOCKED: (ForbiddenError, "MATURITY_INSUFFICIENT", 403),
}


def _refuse(
    *, agent: Agent | None, actor: Any, action: str, outcome: str, reason: str, complexity: int | None, cost: Decimal, request_id: str
) -> DomainError:
    audit_record(
        agent=agent,
        actor=actor,
        action=action,
        verdict_outcome=outcome,
        reason=reason,
        complexity=complexity,
        cost=cost,
        request_id=request_id,
    )
    error_type, code, status = _REFUSALS.get(outcome, (ForbiddenError, "MATURITY_INSUFFICIENT", 403))
    return error_type(reason, code=code, status=status)


def _owned_agent(
    *, actor: Any, agent_id: int, action: str, cost: Decimal, request_id: str, acting_agent_id: int | None
) -> tuple[Agent, int]:
    """The caller's agent and the action map version; a refusal (404, audited) for missing or foreign ones,
    and for any agent but its own when the caller is a token acting as an agent."""
    audit_not_found = functools.partial(
        audit_record, actor=actor, action=action, verdict_outcome=Decision.NOT_FOUND, cost=cost, request_id=request_id
    )
    try:
        agent_principal_confine(agent_id=agent_id, acting_agent_id=acting_agent_id)
    except NotFoundError:
        audit_not_found(agent=None, reason="Token acts as another agent.")
        raise
    found = agent_with_map_version(agent_id=agent_id)
    agent = found[0] if found else None
    if agent is None or agent.owner_id != getattr(actor, "pk", None):
        audit_not_found(agent=agent, reason="Agent missing or not owned by the caller." if agent is not None else f"No agent {agent_id}.")
        raise NotFoundError(AGENT_NOT_FOUND)
    assert found is not None
    return found


def agent_access_authorize(*, actor: Any, agent_id: int, action: str, request_id: str = "", acting_agent_id: int | None = None) -> Agent:
    """The full governance decision at cost 0 for an action performed elsewhere (e.g. episode retrieval).

    Writes exactly one audit row. Returns the agent only when it may act right away; raises NotFoundError,
    AGENT_INACTIVE, ACTION_UNKNOWN or MATURITY_INSUFFICIENT (also for anything that would need a
    proposal or supervision, which a retrieval cannot wait for). A token acting as an agent reaches
    only that agent (404 for any other).
    """
    action = action.strip().lower()
    agent, map_version = _owned_agent(
        actor=actor, agent_id=agent_id, action=action, cost=ZERO, request_id=request_id, acting_agent_id=acting_agent_id
    )
    verdict = governance_decide(agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=map_version, action=action)
    if verdict.outcome != Decision.EXECUTE:
        outcome = verdict.outcome if verdict.outcome in _REFUSALS else Decision.BLOCKED
        reason = verdict.reason if outcome == verdict.outcome else f"Needs {verdict.outcome}; not available to this caller."
        raise _refuse(
            agent=agent,
            actor=actor,
            action=action,
            outcome=outcome,
            reason=reason,
            complexity=verdict.complexity,
            cost=ZERO,
            request_id=request_id,
        )
    audit_record(
        agent=agent,
        actor=actor,
        action=action,
        verdict_outcome=Decision.EXECUTE,
        reason=verdict.reason,
        complexity=verdict.complexity,
        request_id=request_id,
    )
    return agent


def _action_rate_limit(*, agent: Agent, actor: Any, action: str, cost: Decimal, request_id: str) -> None:
    try:
        rate_limit_enforce(None, group="governance.agent-action", key=str(agent.pk), rate=settings.GOVERNANCE_ACTION_RATE)
    except RateLimitedError as exc:
        audit_record(
            agent=agent,
            actor=actor,
            action=action,
            verdict_outcome=Decision.RATE_LIMITED,
            reason="Per-agent action rate limit.",
            cost=cost,
            request_id=request_id,
        )
        raise exc from None


def agent_action_request(
    *,
    actor: Any,
    agent_id: int,
    action: str,
    params: dict[str, Any],
    cost: Decimal,
    request_id: str = "",
    acting_agent_id: int | None = None,
) -> ActionOutcome:
    """An agent asks to perform ``action``: ownership, rate limit, decision, budget, then execution,
    supervision or a proposal. One audit row per request; a refusal runs and charges nothing."""
    action = action.strip().lower()
    agent, map_version = _owned_agent(
        actor=actor, agent_id=agent_id, action=action, cost=cost, request_id=request_id, acting_agent_id=acting_agent_id
    )
    _action_rate_limit(agent=agent, actor=actor, action=action, cost=cost, request_id=request_id)
    verdict = governance_decide(agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=map_version, action=action)
    if verdict.outcome == Decision.PROPOSAL and action in NOT_PROPOSABLE:
        # Belt and braces: canvas JavaScript is never a proposal, whatever the map says.
        verdict = Verdict(Decision.BLOCKED, verdict.complexity, "Canvas JavaScript is for AUTONOMOUS agents only.")
    if verdict.outcome == Decision.PROPOSAL:
        proposal = proposal_create(
            agent=agent,
            actor=actor,
            action=action,
            complexity=verdict.complexity or 0,
            params=params,
            cost=cost,
            request_id=request_id,
            reason=verdict.reason,
        )
        return ActionOutcome(decision=Decision.PROPOSAL, agent=agent, proposal=proposal)
    if not verdict.runs_now:
        raise _refuse(
            agent=agent,
            actor=actor,
            action=action,
            outcome=verdict.outcome,
            reason=verdict.reason,
            complexity=verdict.complexity,
            cost=cost,
            request_id=request_id,
        )
    context = ActionContext(agent=agent, actor=actor, action=action, params=params, request_id=request_id)
    audit = functools.partial(
        audit_record, agent=agent, actor=actor, action=action, complexity=verdict.complexity, cost=cost, request_id=request_id
    )
    handler = ACTION_HANDLERS.get(action)
    if handler is not None:
        try:
            handler.validate(context)
        except DomainError as exc:
            audit(verdict_outcome=Decision.FAILED, reason=exc.message)
            raise
    try:
        with transaction.atomic():
            if not agent_budget_charge(agent_id=agent.pk, cost=cost):
                budget_refused = True
            else:
                budget_refused = False
                execution = action_perform(context=context, cost=cost)
                supervision = (
                    SupervisionSession.objects.create(agent=agent, execution=execution) if verdict.outcome == Decision.SUPERVISED else None
                )
                audit(verdict_outcome=verdict.outcome, reason=verdict.reason)
    except DomainError as exc:
        # Refused while performing: the charge and the execution are rolled back, the decision is still audited.
        audit(verdict_outcome=Decision.FAILED, reason=exc.message)
        raise
    if budget_refused:
        audit(verdict_outcome=Decision.BUDGET_EXCEEDED, reason="Budget or daily cap exceeded.")
        raise ForbiddenError("The agent's budget or daily spend cap does not cover this cost.", code="BUDGET_EXCEEDED")
    return ActionOutcome(decision=verdict.outcome, agent=agent, execution=execution, supervision=supervision)


# --- Canvases through governance ----------------------------------------------------------------

CANVAS_CREATE_ACTIONS: dict[str, str] = {
    CanvasKind.MARKDOWN: "present_markdown",
    CanvasKind.CHART: "present_chart",
    CanvasKind.FORM: "present_form",
    CanvasKind.HTML: "update_canvas",
}


def canvas_create(
    *, actor: Any, agent_id: int, kind: str, params: dict[str, Any], request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Present a new canvas: the action of its kind goes through the governance decision."""
    return agent_action_request(
        actor=actor,
        agent_id=agent_id,
        action=CANVAS_CREATE_ACTIONS[kind],
        params=params,
        cost=ZERO,
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def canvas_update(
    *, actor: Any, canvas: Canvas, params: dict[str, Any], request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Change a canvas: the ``update_canvas`` action, through the governance decision."""
    return agent_action_request(
        actor=actor,
        agent_id=canvas.agent_id,
        action="update_canvas",
        params={**params, "canvas_id": canvas.pk},
        cost=ZERO,
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def canvas_script_execute(
    *, actor: Any, canvas: Canvas, code: str, request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Authorize and store JavaScript for a canvas: AUTONOMOUS only (the decision, then the store checks
    again), never a proposal; every request lands in the canvas audit with the code's hash."""
    try:
        return agent_action_request(
            actor=actor,
            agent_id=canvas.agent_id,
            action=JAVASCRIPT_ACTION,
            params={"canvas_id": canvas.pk, "code": code},
            cost=ZERO,
            request_id=request_id,
            acting_agent_id=acting_agent_id,
        )
    except DomainError as exc:
        if exc.code != "CANVAS_SCRIPT_REFUSED":
            # The script was never looked at (tier, state, rate limit): record the refusal all the same.
            canvas_audit_record(canvas=canvas, actor=actor, code=code, outcome="blocked", reason=exc.code, request_id=request_id)
        raise


# --- Agent principals ---------------------------------------------------------------------------


def agent_token_issue(*, owner: Any, agent: Agent) -> str:
    """An access token for the agent's runtime: it acts as this agent only, and as an agent principal it may
    never decide proposals, give feedback or mint further tokens."""
    if agent.owner_id != owner.pk:
        raise NotFoundError(AGENT_NOT_FOUND)
    token = AccessToken.for_user(owner)
    token[ACTING_AGENT_CLAIM] = agent.pk
    return str(token)


# --- Proposals ---------------------------------------------------------------------------------


def proposal_create(
    *, agent: Agent, actor: Any, action: str, complexity: int, params: dict[str, Any], cost: Decimal, request_id: str = "", reason: str = ""
) -> Proposal:
    """A pending proposal and its audit row; nothing runs and nothing is charged until approval."""
    with transaction.atomic():
        proposal = Proposal.objects.create(
            agent=agent,
            requested_by=actor,
            action=action,
            complexity=complexity,
            params=params,
            cost=cost,
            request_id=request_id[:64],
            expires_at=timezone.now() + timedelta(hours=settings.GOVERNANCE_PROPOSAL_TTL_HOURS),
        )
        audit_record(
            agent=agent,
            actor=actor,
            action=action,
            verdict_outcome=Decision.PROPOSAL,
            reason=reason or "Proposal created.",
            complexity=complexity,
            cost=cost,
            request_id=request_id,
        )
    return proposal


def _reviewer_check(*, proposal: Proposal, reviewer: Any, acting_agent_id: int | None) -> None:
    if acting_agent_id is not None:
        raise ForbiddenError("An agent (or a token acting as one) may never decide a proposal.", code="SELF_APPROVAL_FORBIDDEN")
    if not (getattr(reviewer, "is_staff", False) or proposal.agent.owner_id == getattr(reviewer, "pk", None)):
        raise NotFoundError("Proposal not found.")


def _expire_if_due(*, proposal_id: int) -> None:
    """Mark this proposal expired if its TTL has passed, so a late decision finds it expired, not pending."""
    now = timezone.now()
    Proposal.objects.filter(pk=proposal_id, status=ProposalStatus.PENDING, expires_at__lte=now).update(
        status=ProposalStatus.EXPIRED, decided_at=now
    )


def _decide_once(*, proposal: Proposal, status: str, reviewer: Any, reason: str) -> None:
    """The conditional UPDATE that makes a proposal decided at most once, whoever races for it."""
    now = timezone.now()
    won = Proposal.objects.filter(pk=proposal.pk, status=ProposalStatus.PENDING, expires_at__gt=now).update(
        status=status, reviewer=reviewer, review_reason=reason[:500], decided_at=now
    )
    if not won:
        raise ConflictError("The proposal has already been decided or has expired.", code="PROPOSAL_ALREADY_DECIDED")


def _proposal_run(*, proposal: Proposal, context: ActionContext) -> str:
    """Charge and perform an approved proposal; return why it failed ("" when it ran). A failure undoes
    the charge and anything half-done (savepoint).

    The decision is taken again on the agent and action map as they are now: a demotion, a pause or an
    action removed from the map since the proposal was made fails it, and nothing runs or is charged.
    """
    agent = context.agent
    verdict = governance_decide(
        agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=action_map_version_get(), action=proposal.action
    )
    if not (verdict.runs_now or verdict.outcome == Decision.PROPOSAL):
        return verdict.reason
    cost = Decimal(proposal.cost)
    try:
        handler = ACTION_HANDLERS.get(proposal.action)
        if handler is not None:
            handler.validate(context)
        with transaction.atomic():
            if not agent_budget_charge(agent_id=context.agent.pk, cost=cost):
                raise ForbiddenError("Budget or daily cap exceeded.", code="BUDGET_EXCEEDED")
            action_perform(context=context, cost=cost, proposal=proposal)
    except DomainError as exc:
        return exc.message
    return ""


def proposal_approve(
    *, proposal: Proposal, reviewer: Any, reason: str = "", acting_agent_id: int | None = None, request_id: str = ""
) -> Proposal:
    """A human approves: the proposal is claimed exactly once, then charged and executed, or marked failed.

    Claim and execution share one transaction: a crash in between leaves the proposal pending, never
    stuck as approved; a concurrent approver waits on the row and then finds it decided.
    """
    _reviewer_check(proposal=proposal, reviewer=reviewer, acting_agent_id=acting_agent_id)
    _expire_if_due(proposal_id=proposal.pk)
    with transaction.atomic():
        _decide_once(proposal=proposal, status=ProposalStatus.APPROVED, reviewer=reviewer, reason=reason)
        agent = Agent.objects.get(pk=proposal.agent_id)
        context = ActionContext(agent=agent, actor=reviewer, action=proposal.action, params=proposal.params, request_id=request_id)
        failure = _proposal_run(proposal=proposal, context=context)
        if failure:
            Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.FAILED, failure_reason=failure[:300])
        else:
            Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.EXECUTED)
        audit_record(
            agent=agent,
            actor=reviewer,
            action=proposal.action,
            verdict_outcome=Decision.FAILED if failure else Decision.APPROVED,
            reason=failure or "Approved and executed.",
            complexity=proposal.complexity,
            cost=Decimal(proposal.cost),
            request_id=request_id,
        )
    proposal.refresh_from_db()
    return proposal


def proposal_reject(
    *, proposal: Proposal, reviewer: Any, reason: str = "", acting_agent_id: int | None = None, request_id: str = ""
) -> Proposal:
    """A human rejects a pending proposal; nothing runs."""
    _reviewer_check(proposal=proposal, reviewer=reviewer, acting_agent_id=acting_agent_id)
    _expire_if_due(proposal_id=proposal.pk)
    with transaction.atomic():
        _decide_once(proposal=proposal, status=ProposalStatus.REJECTED, reviewer=reviewer, reason=reason)
        audit_record(
            agent=proposal.agent,
            actor=reviewer,
            action=proposal.action,
            verdict_outcome=Decision.REJECTED,
            reason=reason or "Rejected.",
            complexity=proposal.complexity,
            request_id=request_id,
        )
    proposal.refresh_from_db()
    return proposal


def proposals_expire() -> int:
    """Mark pending proposals past their TTL as expired; return how many. Safe to run any number of times."""
    now = timezone.now()
    return Proposal.objects.filter(status=ProposalStatus.PENDING, expires_at__lte=now).update(status=ProposalStatus.EXPIRED, decided_at=now)


# --- Supervision -------------------------------------------------------------------------------


def supervision_close(*, session: SupervisionSession, supervisor: Any, interventions: int = 0, notes: str = "") -> SupervisionSession:
    """Close an open supervision record (once)."""
    now = timezone.now()
    closed = SupervisionSession.objects.filter(pk=session.pk, status=SupervisionStatus.OPEN).update(
        status=SupervisionStatus.CLOSED, supervisor=supervisor, interventions=max(0, interventions), notes=notes, closed_at=now
    )
    if not closed:
        raise ConflictError("The supervision record is already closed.", code="SUPERVISION_CLOSED")
    session.refresh_from_db()
    return session


# --- Demo data ---------------------------------------------------------------------------------

DEMO_CONFIDENCE = {
    Maturity.STUDENT: Decimal("0.4000"),
    Maturity.INTERN: Decimal("0.6000"),
    Maturity.SUPERVISED: Decimal("0.8000"),
    Maturity.AUTONOMOUS: Decimal("0.9500"),
}


DEMO_REQUESTS = ("read", "draft", "send_email", "delete")
LARGE_AGENTS_PER_TIER = 50
LARGE_AUDIT_ROWS = 200_000
LARGE_AUDIT_DAYS = 7
LARGE_PENDING_PROPOSALS = 40
# Outcomes of the large demo history per tier, with their weights: immature agents are refused more.
LARGE_OUTCOMES: dict[str, tuple[tuple[str, int], ...]] = {
    Maturity.STUDENT: ((Decision.EXECUTE, 60), (Decision.BLOCKED, 30), (Decision.BUDGET_EXCEEDED, 5), (Decision.RATE_LIMITED, 5)),
    Maturity.INTERN: ((Decision.EXECUTE, 70), (Decision.PROPOSAL, 15), (Decision.BLOCKED, 10), (Decision.BUDGET_EXCEEDED, 5)),
    Maturity.SUPERVISED: ((Decision.EXECUTE, 70), (Decision.SUPERVISED, 15), (Decision.PROPOSAL, 10), (Decision.FAILED, 5)),
    Maturity.AUTONOMOUS: ((Decision.EXECUTE, 95), (Decision.BUDGET_EXCEEDED, 3), (Decision.FAILED, 2)),
}


def _demo_activity(*, owner: Any, agents: list[Agent]) -> None:
    """A few real requests from each demo agent, decided by governance itself: executions, proposals
    waiting for a reviewer and refusals, each with its audit row."""
    for agent in agents:
        for action in DEMO_REQUESTS:
            try:
                agent_action_request(actor=owner, agent_id=agent.pk, action=action, params={"demo": True}, cost=ZERO)
            except DomainError:
                continue  # a refusal is part of the demo; its audit row is written


def _audit_history_insert(*, rows: list[tuple[Any, ...]], stdout: TextIO) -> None:
    """Insert past audit rows with their own times.

    ``created_at`` is set on insert by the ORM (auto_now_add) and the table refuses updates, so the
    history is written with one parameterised INSERT built from the model's metadata.
    """
    fields = ["agent", "actor", "action", "complexity", "maturity", "confidence", "outcome", "reason", "cost", "request_id", "created_at"]
    by_name = {field.name: str(field.column) for field in AuditEntry._meta.concrete_fields}
    columns = [by_name[name] for name in fields]
    quote = connection.ops.quote_name
    table = quote(AuditEntry._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor, tqdm(total=len(rows), desc="governance: audit history", unit=" rows", file=stdout) as bar:
        for start in range(0, len(rows), 5_000):
            chunk = rows[start : start + 5_000]
            cursor.executemany(sql, chunk)
            bar.update(len(chunk))


def _demo_large_seed(*, owner: Any, stdout: TextIO) -> None:
    """Enough agents, audit history (several days, denser today) and proposals for the dashboard and the
    admin to be tried at scale. Written in bulk, in one transaction; skipped when already there."""
    if Agent.objects.filter(owner=owner, name__startswith="load-").exists():
        stdout.write("governance: large demo data already present.\n")
        return
    randomness = random.Random(7)  # noqa: S311  # nosec B311 - demo data, reproducible on purpose
    policies = dict(ActionPolicy.objects.values_list("name", "complexity"))
    now = timezone.now()
    with transaction.atomic():
        agents = Agent.objects.bulk_create(
            Agent(
                owner=owner,
                name=f"load-{tier.lower()}-{index:03d}",
                category="load",
                maturity=tier,
                confidence=DEMO_CONFIDENCE[tier],
                state=AgentState.PAUSED if index % 10 == 9 else AgentState.ACTIVE,
                budget=Decimal("1000.00"),
                daily_spend_cap=Decimal(settings.GOVERNANCE_DAILY_SPEND_CAP),
            )
            for tier in Maturity
            for index in range(LARGE_AGENTS_PER_TIER)
        )
        names = sorted(policies)
        rows = []
        adapt = connection.ops.adapt_datetimefield_value
        span = LARGE_AUDIT_DAYS * 86_400
        for index in range(LARGE_AUDIT_ROWS):
            agent = agents[index % len(agents)]
            outcomes, weights = zip(*LARGE_OUTCOMES[agent.maturity], strict=True)
            action = names[index % len(names)]
            # Half of the rows fall within the last day, so the hourly chart has something to show.
            seconds = randomness.uniform(0, 86_400 if index % 2 else span)
            rows.append((
                agent.pk, owner.pk, action, policies[action], agent.maturity, agent.confidence,
                randomness.choices(outcomes, weights)[0], "demo history", ZERO, "", adapt(now - timedelta(seconds=seconds)),
            ))  # fmt: skip
        _audit_history_insert(rows=rows, stdout=stdout)
        interns = [agent for agent in agents if agent.maturity == Maturity.INTERN]
        Proposal.objects.bulk_create(
            Proposal(
                agent=interns[index % len(interns)],
                requested_by=owner,
                action="send_email",
                complexity=3,
                params={"to": f"customer-{index}@example.com"},
                expires_at=now + timedelta(hours=settings.GOVERNANCE_PROPOSAL_TTL_HOURS),
            )
            for index in range(LARGE_PENDING_PROPOSALS)
        )
    stdout.write(f"governance: large demo data: {len(agents)} agents, {len(rows)} audit rows, {LARGE_PENDING_PROPOSALS} proposals.\n")


def demo_data_seed(*, large: bool, stdout: TextIO) -> None:
    """The seeded action map, a demo owner ("demo") with one agent of every tier and a little real
    activity (executions, proposals waiting, refusals); with ``large``, load data for the dashboard.
    Idempotent."""
    added = action_map_seed()
    user_model = get_user_model()
    owner, created = user_model.objects.get_or_create(username="demo", defaults={"email": "demo@example.com"})
    if created:
        owner.set_unusable_password()
        owner.save(update_fields=["password"])
    demo_agents = []
    for maturity, confidence in DEMO_CONFIDENCE.items():
        agent, _ = Agent.objects.get_or_create(
            owner=owner,
            name=f"demo-{maturity.lower()}",
            defaults={
                "category": "demo",
                "maturity": maturity,
                "confidence": confidence,
                "budget": Decimal("100.00"),
                "daily_spend_cap": Decimal(settings.GOVERNANCE_DAILY_SPEND_CAP),
                "capabilities": ["canvas", "memory"],
            },
        )
        demo_agents.append(agent)
    if not AuditEntry.objects.filter(agent__in=demo_agents).exists():
        _demo_activity(owner=owner, agents=demo_agents)
    stdout.write(f"governance: action map +{added}, demo owner 'demo' with agents of every tier.\n")
    if large:
        _demo_large_seed(owner=owner, stdout=stdout)


def money(value: Decimal) -> Decimal:
    """Round to cents, as budgets are stored."""
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)
