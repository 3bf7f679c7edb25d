"""Reads of the governance app: already-optimised querysets, confined to what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from atom.dbfunctions import utc_period_key, utc_period_name
from atom.errors import NotFoundError
from atom.permissions import actor_may
from atom.prepared import prepared_cursor
from governance.models import (
    ActionMapVersion,
    ActionPolicy,
    Agent,
    AgentState,
    AuditEntry,
    Canvas,
    Decision,
    Maturity,
    Proposal,
    ProposalStatus,
)

AGENT_NOT_FOUND = "Agent not found."


def agent_principal_confine(*, agent_id: int, acting_agent_id: int | None) -> None:
    """A token acting as one agent (an agent principal) reaches that agent only: any other agent, even
    a sibling of the same owner, is NotFoundError (404), exactly like another owner's."""
    if acting_agent_id is not None and acting_agent_id != agent_id:
        raise NotFoundError(AGENT_NOT_FOUND)


def agent_list_for_owner(*, owner: Any, acting_agent_id: int | None = None) -> QuerySet[Agent]:
    """The caller's agents, newest last (an agent principal's own agent only)."""
    queryset = Agent.objects.filter(owner=owner).order_by("id")
    return queryset if acting_agent_id is None else queryset.filter(pk=acting_agent_id)


def agent_get_for_owner(*, owner: Any, agent_id: int, acting_agent_id: int | None = None) -> Agent:
    """The agent with this id if ``owner`` owns it (and an agent principal acts as it); NotFoundError
    (404) otherwise, for missing and foreign alike."""
    agent_principal_confine(agent_id=agent_id, acting_agent_id=acting_agent_id)
    agent = Agent.objects.filter(pk=agent_id, owner=owner).first()
    if agent is None:
        raise NotFoundError(AGENT_NOT_FOUND)
    return agent


@dataclass(frozen=True)
class _RowLoader:
    sql: str
    attnames: list[str]
    converters: list[tuple[Any, list[Any]]]


_ROW_LOADERS: dict[str, _RowLoader] = {}


def _row_loader() -> _RowLoader:
    """The agent-plus-map-version query, compiled once per database vendor.

    This is the read every governed request starts with; building it through the ORM on each call costs
    ~10x the query itself, so the SQL and the field converters are prepared once and reused.
    """
    loader = _ROW_LOADERS.get(connection.vendor)
    if loader is None:
        quote = connection.ops.quote_name
        fields = Agent._meta.concrete_fields
        columns = ", ".join(f"a.{quote(str(field.column))}" for field in fields)
        # Every identifier comes from model metadata, never from input; the id is a bound parameter.
        version_table, agent_table = quote(ActionMapVersion._meta.db_table), quote(Agent._meta.db_table)
        sql = f"SELECT {columns}, (SELECT v.version FROM {version_table} v WHERE v.id = 1) FROM {agent_table} a WHERE a.id = %s"  # noqa: S608  # nosec B608
        converters = []
        for field in fields:
            column = field.get_col("a")
            converters.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
        loader = _ROW_LOADERS[connection.vendor] = _RowLoader(sql, [field.attname for field in fields], converters)
    return loader


def agent_with_map_version(*, agent_id: int) -> tuple[Agent, int] | None:
    """The agent row and the action map's current version, read together in one query."""
    if not -(2**63) <= agent_id < 2**63:
        # No row can have this id; the driver would raise OverflowError instead of finding nothing.
        return None
    loader = _row_loader()
    with prepared_cursor() as cursor:
        cursor.execute(loader.sql, [agent_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for (column, converters), value in zip(loader.converters, row, strict=False):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return Agent.from_db(connection.alias, loader.attnames, values), int(row[-1] or 0)


def action_map_version_get() -> int:
    """The current action map version (0 before the first map is seeded)."""
    row = ActionMapVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def action_policies_all() -> QuerySet[ActionPolicy]:
    """The whole action map."""
    return ActionPolicy.objects.order_by("complexity", "name")


def proposal_list_for_user(*, user: Any, acting_agent_id: int | None = None) -> QuerySet[Proposal]:
    """Proposals the user may review: those of their own agents (every proposal for a holder of the approve
    permission; an agent principal only its own agent's, whoever its owner is)."""
    queryset = Proposal.objects.select_related("agent").order_by("-id")
    if acting_agent_id is not None:
        return queryset.filter(agent__owner=user, agent_id=acting_agent_id)
    if actor_may(user, "governance.approve_proposal"):
        return queryset
    return queryset.filter(agent__owner=user)


def proposal_get_for_user(*, user: Any, proposal_id: int, acting_agent_id: int | None = None) -> Proposal:
    """One proposal the user may review, or NotFoundError."""
    proposal = proposal_list_for_user(user=user, acting_agent_id=acting_agent_id).filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFoundError("Proposal not found.")
    return proposal


def canvas_list_for_owner(*, owner: Any, acting_agent_id: int | None = None) -> QuerySet[Canvas]:
    """Canvases of the owner's agents (an agent principal's own agent only)."""
    queryset = Canvas.objects.filter(agent__owner=owner).order_by("-id")
    return queryset if acting_agent_id is None else queryset.filter(agent_id=acting_agent_id)


def canvas_get_for_owner(*, owner: Any, canvas_id: int, acting_agent_id: int | None = None) -> Canvas:
    """One canvas of the owner's agents (of an agent principal's own agent), or NotFoundError."""
    canvas = canvas_list_for_owner(owner=owner, acting_agent_id=acting_agent_id).select_related("agent").filter(pk=canvas_id).first()
    if canvas is None:
        raise NotFoundError("Canvas not found.")
    return canvas


def audit_list(**filters: Any) -> QuerySet[AuditEntry]:
    """The audit log, newest first, filtered on indexed columns (agent, action, outcome, maturity)."""
    allowed = {key: value for key, value in filters.items() if key in ("agent", "action", "outcome", "maturity")}
    return AuditEntry.objects.filter(**allowed).select_related("actor").order_by("-id")


# How the dashboard groups audit outcomes: the action ran, waits for a human, or was refused.
OUTCOME_GROUPS: dict[str, str] = {
    Decision.EXECUTE: "allowed",
    Decision.SUPERVISED: "allowed",
    Decision.APPROVED: "allowed",
    Decision.PROPOSAL: "proposed",
    Decision.BLOCKED: "refused",
    Decision.NOT_FOUND: "refused",
    Decision.INACTIVE: "refused",
    Decision.UNKNOWN_ACTION: "refused",
    Decision.BUDGET_EXCEEDED: "refused",
    Decision.RATE_LIMITED: "refused",
    Decision.REJECTED: "refused",
    Decision.FAILED: "failed",
}


def dashboard_agents_by_tier() -> dict[str, dict[str, int]]:
    """Agents per tier, split into active and not active (paused or stopped): one query."""
    counts = {tier: {"active": 0, "inactive": 0} for tier in Maturity.values}
    rows = (
        Agent.objects.values("maturity")
        .annotate(active=Count("pk", filter=Q(state=AgentState.ACTIVE)), inactive=Count("pk", filter=~Q(state=AgentState.ACTIVE)))
        .order_by()
    )
    for row in rows:
        counts[row["maturity"]] = {"active": row["active"], "inactive": row["inactive"]}
    return counts


def dashboard_proposals_waiting(*, now: datetime | None = None) -> dict[str, Any]:
    """Pending proposals: how many, how many expire within the hour, and when the oldest was made."""
    now = now or timezone.now()
    return Proposal.objects.filter(status=ProposalStatus.PENDING).aggregate(
        waiting=Count("pk"),
        expiring_soon=Count("pk", filter=Q(expires_at__lt=now + timedelta(hours=1))),
        oldest=Min("created_at"),
    )


def dashboard_actions_by_hour(*, hours: int = 24, now: datetime | None = None) -> tuple[list[datetime], dict[str, list[int]]]:
    """Decisions of the last ``hours`` hours per hour, grouped as in OUTCOME_GROUPS, oldest hour first.

    One aggregate query over the (created_at, outcome) index, whatever the size of the audit log.
    """
    end = (now or timezone.now()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    index_of = {utc_period_name(slot, period="hour"): index for index, slot in enumerate(slots)}
    series = {group: [0] * hours for group in ("allowed", "proposed", "refused", "failed")}
    rows = (
        AuditEntry.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(hour=utc_period_key("created_at", period="hour"))
        .values_list("hour", "outcome")
        .annotate(n=Count("*"))
        .order_by()
    )
    for hour, outcome, count in rows:
        group, index = OUTCOME_GROUPS.get(outcome), index_of.get(utc_period_name(hour, period="hour"))
        if group and index is not None:
            series[group][index] += count
    return slots, series


def proposals_waiting(*, created_before: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Pending proposals made before ``created_before``, oldest first (for the notifications' scan)."""
    return [
        dict(row)
        for row in Proposal.objects.filter(status=ProposalStatus.PENDING, created_at__lt=created_before)
        .order_by("created_at", "id")
        .values("pk", "action", "agent__name", "created_at")[:limit]
    ]
