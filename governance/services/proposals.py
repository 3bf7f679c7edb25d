"""Proposals and supervision: what immature agents asked for, decided once by a human reviewer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atom.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from atom.permissions import actor_may
from governance.models import (
    Agent,
    Decision,
    Proposal,
    ProposalStatus,
    SupervisionSession,
    SupervisionStatus,
)
from governance.selectors import action_map_version_get
from governance.services.audit import AuditTrail, audit_record
from governance.services.budget import agent_budget_charge
from governance.services.decision import governance_decide
from governance.services.execution import ACTION_HANDLERS, ActionContext, action_perform

# --- Proposals ---------------------------------------------------------------------------------

APPROVE = "governance.approve_proposal"
REJECT = "governance.reject_proposal"


def proposal_create(
    *,
    agent: Agent,
    actor: Any,
    action: str,
    complexity: int,
    params: dict[str, Any],
    cost: Decimal,
    request_id: str = "",
    reason: str = "",
    trail: AuditTrail | None = None,
) -> Proposal:
    """A pending proposal and its audit row; nothing runs and nothing is charged until approval.

    Inside a governed request the row is that request's ``trail``; on its own it writes its own.
    """
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
        trail = trail or AuditTrail(actor=actor, action=action, cost=cost, request_id=request_id, agent=agent, complexity=complexity)
        trail.record(outcome=Decision.PROPOSAL, reason=reason or "Proposal created.")
    return proposal


def _reviewer_check(*, proposal: Proposal, reviewer: Any, acting_agent_id: int | None, permission: str) -> None:
    """A human decides: the agent's owner, or a holder of ``permission``; being staff grants nothing."""
    if acting_agent_id is not None:
        raise ForbiddenError("An agent (or a token acting as one) may never decide a proposal.", code="SELF_APPROVAL_FORBIDDEN")
    if proposal.agent.owner_id != getattr(reviewer, "pk", None) and not actor_may(reviewer, permission):
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
    _reviewer_check(proposal=proposal, reviewer=reviewer, acting_agent_id=acting_agent_id, permission=APPROVE)
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
    _reviewer_check(proposal=proposal, reviewer=reviewer, acting_agent_id=acting_agent_id, permission=REJECT)
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
