"""Demo data for `seed_demo`: agents of every tier for the demo owner, and a large history on request."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from atom.errors import DomainError
from governance.models import (
    ActionPolicy,
    Agent,
    AgentState,
    AuditEntry,
    Decision,
    Maturity,
    Proposal,
)
from governance.services.actions import agent_action_request
from governance.services.decision import action_map_seed

ZERO = Decimal("0")


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
