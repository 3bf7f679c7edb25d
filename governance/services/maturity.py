"""Confidence, demotion and promotion: outcomes and feedback move confidence; demotion is immediate,
promotion only through the graduation criteria or an admin's recorded reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, F, Value
from django.db.models.functions import Greatest, Least, Round

from atom.errors import DomainError, NotFoundError
from governance.models import (
    MATURITY_FLOOR,
    MATURITY_RANK,
    RANK_MATURITY,
    Agent,
    AgentFeedback,
    AgentOutcome,
    AgentState,
    Maturity,
    MaturityChange,
    MaturityChangeKind,
)
from governance.selectors import AGENT_NOT_FOUND

ZERO = Decimal("0")
ONE = Decimal("1")
FOUR_PLACES = Decimal("0.0001")


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
