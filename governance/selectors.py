"""Reads of the governance app: already-optimised querysets, confined to what the caller may see."""

from __future__ import annotations

from typing import Any

from django.db.models import IntegerField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from atom.api.errors import NotFoundError
from governance.models import (
    ActionMapVersion,
    ActionPolicy,
    Agent,
    AuditEntry,
    Canvas,
    Proposal,
)

AGENT_NOT_FOUND = "Agent not found."


def _map_version() -> Coalesce:
    """The action map's version as a subquery, so it arrives with the agent row in one query."""
    return Coalesce(
        Subquery(ActionMapVersion.objects.filter(pk=1).values("version")[:1], output_field=IntegerField()),
        Value(0),
    )


def agent_list_for_owner(*, owner: Any) -> QuerySet[Agent]:
    """The caller's agents, newest last."""
    return Agent.objects.filter(owner=owner).order_by("id")


def agent_get_for_owner(*, owner: Any, agent_id: int) -> Agent:
    """The agent with this id if ``owner`` owns it; NotFoundError (404) otherwise, for missing and foreign alike."""
    agent = Agent.objects.filter(pk=agent_id, owner=owner).first()
    if agent is None:
        raise NotFoundError(AGENT_NOT_FOUND)
    return agent


def agent_with_map_version(*, agent_id: int) -> tuple[Agent, int] | None:
    """The agent row and the action map's current version, read together in one query."""
    agent = Agent.objects.filter(pk=agent_id).annotate(map_version=_map_version()).first()
    if agent is None:
        return None
    return agent, int(agent.map_version)


def action_map_version_get() -> int:
    """The current action map version (0 before the first map is seeded)."""
    row = ActionMapVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def action_policies_all() -> QuerySet[ActionPolicy]:
    """The whole action map."""
    return ActionPolicy.objects.order_by("complexity", "name")


def proposal_list_for_user(*, user: Any) -> QuerySet[Proposal]:
    """Proposals the user may review: those of their own agents (staff see every proposal)."""
    queryset = Proposal.objects.select_related("agent").order_by("-id")
    if user.is_staff:
        return queryset
    return queryset.filter(agent__owner=user)


def proposal_get_for_user(*, user: Any, proposal_id: int) -> Proposal:
    """One proposal the user may review, or NotFoundError."""
    proposal = proposal_list_for_user(user=user).filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFoundError("Proposal not found.")
    return proposal


def canvas_list_for_owner(*, owner: Any) -> QuerySet[Canvas]:
    """Canvases of the owner's agents."""
    return Canvas.objects.filter(agent__owner=owner).order_by("-id")


def canvas_get_for_owner(*, owner: Any, canvas_id: int) -> Canvas:
    """One canvas of the owner's agents, or NotFoundError."""
    canvas = canvas_list_for_owner(owner=owner).select_related("agent").filter(pk=canvas_id).first()
    if canvas is None:
        raise NotFoundError("Canvas not found.")
    return canvas


def audit_list(**filters: Any) -> QuerySet[AuditEntry]:
    """The audit log, newest first, filtered on indexed columns (agent, action, outcome, maturity)."""
    allowed = {key: value for key, value in filters.items() if key in ("agent", "action", "outcome", "maturity")}
    return AuditEntry.objects.filter(**allowed).select_related("actor").order_by("-id")
