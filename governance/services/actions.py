"""The governed request: ownership, the decision, the rate limit, the charge and exactly one audit row.

Everything that lets an agent act (the action route, canvases, the episodes app through
:func:`agent_access_authorize`) goes through here. Refusals execute nothing and charge nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from atom.dbinsert import row_append
from atom.errors import DomainError, ForbiddenError, NotFoundError, RateLimitedError
from atom.ratelimit import rate_limit_enforce
from governance.models import (
    ActionExecution,
    Agent,
    AuditEntry,
    Decision,
    Proposal,
    SupervisionSession,
)
from governance.selectors import AGENT_NOT_FOUND, agent_principal_confine, agent_with_map_version
from governance.services.audit import AuditTrail, audited
from governance.services.budget import agent_budget_charge, agent_budget_charge_written
from governance.services.decision import NOT_PROPOSABLE, Verdict, governance_decide
from governance.services.execution import ACTION_HANDLERS, ActionContext, action_perform
from governance.services.proposals import proposal_create

ZERO = Decimal("0")


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


BUDGET_REFUSAL = "Budget or daily cap exceeded."


def _budget_exceeded() -> ForbiddenError:
    return ForbiddenError("The agent's budget or daily spend cap does not cover this cost.", code="BUDGET_EXCEEDED")


def _refuse(*, trail: AuditTrail, outcome: str, reason: str) -> DomainError:
    trail.record(outcome=outcome, reason=reason)
    error_type, code, status = _REFUSALS.get(outcome, (ForbiddenError, "MATURITY_INSUFFICIENT", 403))
    return error_type(reason, code=code, status=status)


def _owned_agent(*, trail: AuditTrail, agent_id: int, acting_agent_id: int | None) -> tuple[Agent, int]:
    """The caller's agent and the action map version; a refusal (404, audited) for missing or foreign ones,
    and for any agent but its own when the caller is a token acting as an agent."""
    try:
        agent_principal_confine(agent_id=agent_id, acting_agent_id=acting_agent_id)
    except NotFoundError:
        trail.record(outcome=Decision.NOT_FOUND, reason="Token acts as another agent.")
        raise
    found = agent_with_map_version(agent_id=agent_id)
    agent = found[0] if found else None
    if agent is None or agent.owner_id != getattr(trail.actor, "pk", None):
        reason = "Agent missing or not owned by the caller." if agent is not None else f"No agent {agent_id}."
        trail.record(outcome=Decision.NOT_FOUND, reason=reason, agent=agent)
        raise NotFoundError(AGENT_NOT_FOUND)
    assert found is not None
    trail.agent = agent
    return found


@dataclass(frozen=True)
class AccessGrant:
    """An allowed access (see :func:`agent_access_grant`): the agent, and the audit row still to write."""

    agent: Agent
    audit: AuditEntry


def agent_access_authorize(*, actor: Any, agent_id: int, action: str, request_id: str = "", acting_agent_id: int | None = None) -> Agent:
    """The full governance decision at cost 0 for an action performed elsewhere (e.g. episode retrieval).

    Writes exactly one audit row. Returns the agent only when it may act right away; raises NotFoundError,
    AGENT_INACTIVE, ACTION_UNKNOWN or MATURITY_INSUFFICIENT (also for anything that would need a
    proposal or supervision, which a retrieval cannot wait for). A token acting as an agent reaches
    only that agent (404 for any other).
    """
    grant = agent_access_grant(actor=actor, agent_id=agent_id, action=action, request_id=request_id, acting_agent_id=acting_agent_id)
    row_append(grant.audit)
    return grant.agent


def agent_access_grant(*, actor: Any, agent_id: int, action: str, request_id: str = "", acting_agent_id: int | None = None) -> AccessGrant:
    """:func:`agent_access_authorize`, except that the allowed decision's audit row is returned unwritten.

    A refusal is written and raised as there. An allowed access hands its row to the caller, who must
    write it with the act it allows, in one statement or transaction (episode retrieval: ``atom.readlog``).
    """
    action = action.strip().lower()
    with audited(actor=actor, action=action, request_id=request_id) as trail:
        agent, map_version = _owned_agent(trail=trail, agent_id=agent_id, acting_agent_id=acting_agent_id)
        verdict = governance_decide(agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=map_version, action=action)
        trail.complexity = verdict.complexity
        if verdict.outcome != Decision.EXECUTE:
            outcome = verdict.outcome if verdict.outcome in _REFUSALS else Decision.BLOCKED
            reason = verdict.reason if outcome == verdict.outcome else f"Needs {verdict.outcome}; not available to this caller."
            raise _refuse(trail=trail, outcome=outcome, reason=reason)
        audit = trail.grant(outcome=Decision.EXECUTE, reason=verdict.reason)
    return AccessGrant(agent=agent, audit=audit)


def _action_rate_limit(*, trail: AuditTrail, agent: Agent) -> None:
    try:
        rate_limit_enforce(None, group="governance.agent-action", key=str(agent.pk), rate=settings.GOVERNANCE_ACTION_RATE)
    except RateLimitedError as exc:
        trail.record(outcome=Decision.RATE_LIMITED, reason="Per-agent action rate limit.")
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
    with audited(actor=actor, action=action, cost=cost, request_id=request_id) as trail:
        agent, map_version = _owned_agent(trail=trail, agent_id=agent_id, acting_agent_id=acting_agent_id)
        _action_rate_limit(trail=trail, agent=agent)
        verdict = governance_decide(agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=map_version, action=action)
        trail.complexity = verdict.complexity
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
                trail=trail,
            )
            return ActionOutcome(decision=Decision.PROPOSAL, agent=agent, proposal=proposal)
        if not verdict.runs_now:
            raise _refuse(trail=trail, outcome=verdict.outcome, reason=verdict.reason)
        context = ActionContext(agent=agent, actor=actor, action=action, params=params, request_id=request_id)
        handler = ACTION_HANDLERS.get(action)
        if handler is not None:
            # A refusal here, or while performing below (charge and execution rolled back), is audited as FAILED.
            handler.validate(context)
        if handler is None and verdict.outcome == Decision.EXECUTE:
            # Nothing to perform here but the record: the charge, the execution row and the audit row
            # (or the refusal's) are one statement (atom.guarded).
            execution = action_perform(context=context, cost=cost, save=False)
            allowed = trail.draft(outcome=verdict.outcome, reason=verdict.reason)
            refused = trail.draft(outcome=Decision.BUDGET_EXCEEDED, reason=BUDGET_REFUSAL)
            charged = agent_budget_charge_written(agent_id=agent.pk, cost=cost, charged=[execution, allowed], refused=[refused])
            trail.claim(allowed if charged else refused)
            if not charged:
                raise _budget_exceeded()
            return ActionOutcome(decision=verdict.outcome, agent=agent, execution=execution)
        with transaction.atomic():
            charged = agent_budget_charge(agent_id=agent.pk, cost=cost)
            if charged:
                execution = action_perform(context=context, cost=cost)
                supervised = verdict.outcome == Decision.SUPERVISED
                supervision = SupervisionSession.objects.create(agent=agent, execution=execution) if supervised else None
                trail.record(outcome=verdict.outcome, reason=verdict.reason)
        if not charged:
            # Recorded outside the rolled-back transaction, so the refusal's row stays.
            trail.record(outcome=Decision.BUDGET_EXCEEDED, reason=BUDGET_REFUSAL)
            raise _budget_exceeded()
    return ActionOutcome(decision=verdict.outcome, agent=agent, execution=execution, supervision=supervision)
