"""The governed request: ownership, the decision, the rate limit, the charge and exactly one audit row.

Everything that lets an agent act (the action route, canvases, the episodes app through
:func:`agent_access_authorize`) goes through here. Refusals execute nothing and charge nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from atom.errors import DomainError, ForbiddenError, NotFoundError, RateLimitedError
from atom.ratelimit import rate_limit_enforce
from governance.models import (
    ActionExecution,
    Agent,
    Decision,
    Proposal,
    SupervisionSession,
)
from governance.selectors import AGENT_NOT_FOUND, agent_principal_confine, agent_with_map_version
from governance.services.audit import audit_record
from governance.services.budget import agent_budget_charge
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
