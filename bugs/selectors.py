"""Reads of the bugs app, as already-optimised querysets with a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from bugs.models import (
    ACTIVE_STATUSES,
    DEFAULT_SLA_HOURS,
    TERMINAL_RUN_STATUSES,
    Bug,
    BugResult,
    RegressionTest,
    Result,
    Run,
    RunStatus,
    SeverityPolicy,
)


def bug_list(
    *,
    severities: Iterable[str] = (),
    statuses: Iterable[str] = (),
    categories: Iterable[str] = (),
    keys: Iterable[str] = (),
) -> QuerySet[Bug]:
    """Bugs with their linked tests and each test's latest result: two queries for any number of bugs."""
    query = Bug.objects.select_related("duplicate_of", "assignee", "reporter").prefetch_related(
        Prefetch("regression_tests", queryset=RegressionTest.objects.select_related("last_result__run").order_by("node_id"))
    )
    if severities := list(severities):
        query = query.filter(severity__in=severities)
    if statuses := list(statuses):
        query = query.filter(status__in=statuses)
    if categories := list(categories):
        query = query.filter(category__in=categories)
    if keys := list(keys):
        query = query.filter(key__in=keys)
    return query.order_by("severity", "key")


def bug_results(*, bug: Bug) -> QuerySet[Result]:
    """The results attached to a bug, newest run first."""
    return (
        Result.objects.filter(Exists(BugResult.objects.filter(bug=bug, result=OuterRef("pk"))))
        .select_related("run")
        .order_by("-run_id", "node_id")
    )


def sla_breached_filter(now: datetime | None = None) -> Q:
    """Bugs still in the SLA clock whose due time has passed."""
    return Q(status__in=ACTIVE_STATUSES, sla_due_at__lt=now or timezone.now())


def run_list() -> QuerySet[Run]:
    return Run.objects.select_related("suite", "triggered_by").order_by("-id")


def run_latest_finished(*, suite_name: str | None = None) -> Run | None:
    """The latest finished run of the suite (Atom's own by default), for the report's summary."""
    return (
        Run.objects.filter(suite__name=suite_name or settings.ATOM_BUGS_DEFAULT_SUITE, status__in=TERMINAL_RUN_STATUSES)
        .exclude(status=RunStatus.CANCELLED)
        .select_related("suite")
        .order_by("-finished_at", "-id")
        .first()
    )


@dataclass
class TriageData:
    """Everything the triage report shows, read in a fixed number of queries."""

    generated_at: datetime
    bugs: list[Bug]
    sla_hours: dict[str, int]
    latest_run: Run | None
    filters: dict[str, list[str]] = field(default_factory=dict)


def triage_data(
    *, severities: Iterable[str] = (), statuses: Iterable[str] = (), keys: Iterable[str] = (), now: datetime | None = None
) -> TriageData:
    """The report's data: four queries whatever the number of bugs and results."""
    severities, statuses, keys = list(severities), list(statuses), list(keys)
    hours = {str(k): int(v) for k, v in DEFAULT_SLA_HOURS.items()}
    hours.update(dict(SeverityPolicy.objects.values_list("severity", "sla_hours")))
    return TriageData(
        generated_at=now or timezone.now(),
        bugs=list(bug_list(severities=severities, statuses=statuses, keys=keys)),
        sla_hours=hours,
        latest_run=run_latest_finished(),
        filters={k: v for k, v in (("severity", severities), ("status", statuses), ("key", keys)) if v},
    )
