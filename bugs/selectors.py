"""Reads of the bugs app, as already-optimised querysets with a fixed number of queries."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from atom.dbfunctions import utc_period_key, utc_period_name
from atom.errors import DomainError, NotFoundError
from atom.prepared import prepared_cursor
from bugs.models import (
    ACTIVE_STATUSES,
    DEFAULT_SLA_HOURS,
    TERMINAL_RUN_STATUSES,
    Bug,
    BugResult,
    BugStatus,
    Comment,
    Project,
    RegressionTest,
    Result,
    Run,
    RunShard,
    RunStatus,
    RunUpload,
    RunUploadPart,
    Severity,
    SeverityPolicy,
    Suite,
)
from bugs.parsers import ReportFormatError


def bug_list(
    *,
    severities: Iterable[str] = (),
    statuses: Iterable[str] = (),
    categories: Iterable[str] = (),
    keys: Iterable[str] = (),
    project: str = "",
) -> QuerySet[Bug]:
    """Bugs with their linked tests and each test's latest result: two queries for any number of bugs.

    ``project`` is a project's slug (an unknown one lists nothing)."""
    query = Bug.objects.select_related("project", "duplicate_of", "assignee", "reporter").prefetch_related(
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
    if project:
        query = query.filter(project__slug=project)
    return query.order_by("severity", "key")


SEARCHED_TEXT = ("title", "description", "actual", "root_cause", "component")


def bug_search(bugs: QuerySet[Bug], *, term: str) -> QuerySet[Bug]:
    """Bugs matching ``term`` by key, title, text or a linked test's node id.

    On PostgreSQL the text is matched by full-text search (stems, any word order); elsewhere by a
    case-insensitive substring. A key or node id always matches as a substring.
    """
    term = term.strip()[:200]
    if not term:
        return bugs
    by_id = Q(key__icontains=term) | Q(Exists(RegressionTest.objects.filter(bug=OuterRef("pk"), node_id__icontains=term)))
    if connection.vendor == "postgresql":
        vector = SearchVector(*SEARCHED_TEXT, config="english")
        return bugs.annotate(document=vector).filter(
            by_id | Q(title__icontains=term) | Q(document=SearchQuery(term, config="english", search_type="websearch"))
        )
    text = Q()
    for name in SEARCHED_TEXT:
        text |= Q(**{f"{name}__icontains": term})
    return bugs.filter(by_id | text)


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


def run_list(*, project: str = "") -> QuerySet[Run]:
    """Runs, newest first; ``project`` (a slug) keeps the runs of that project's suites."""
    runs = Run.objects.select_related("suite__project", "triggered_by").order_by("-id")
    return runs.filter(suite__project__slug=project) if project else runs


def project_list() -> QuerySet[Project]:
    return Project.objects.order_by("slug")


def project_by_slug(slug: str) -> Project | None:
    return Project.objects.filter(slug=slug).first() if isinstance(slug, str) else None


def project_suites_to_run(*, slug: str) -> list[Suite]:
    """The suites ``run_regressions --project`` runs: the project's default suite (the one named like the
    project, or its only suite), else every suite of the project."""
    project = project_by_slug(slug)
    if project is None:
        raise NotFoundError(f"No project named {slug!r}.")
    suites = list(Suite.objects.filter(project=project).select_related("project").order_by("name"))
    if not suites:
        raise DomainError(f"The project {slug!r} has no suite to run: register one first.", code="NO_SUITE")
    default = [suite for suite in suites if suite.name == project.slug]
    return default or suites


def run_latest_finished(*, suite_name: str | None = None, project: str = "") -> Run | None:
    """The latest finished run of the suite (Atom's own by default), for the report's summary; with a
    project (a slug), the latest finished run of any of its suites."""
    if project:
        runs = Run.objects.filter(suite__project__slug=project)
    else:
        runs = Run.objects.filter(suite__name=suite_name or settings.ATOM_BUGS_DEFAULT_SUITE)
    return (
        runs.filter(status__in=TERMINAL_RUN_STATUSES)
        .exclude(status=RunStatus.CANCELLED)
        .select_related("suite")
        .order_by("-finished_at", "-id")
        .first()
    )


REPORT_BUG_FIELDS = (
    "pk", "key", "title", "severity", "status", "category", "reported_category", "component", "discovered_at", "sla_due_at", "description",
    "actual", "expected", "root_cause", "reproduction", "fix_strategy", "fix_commit", "verification_note",
    "is_regression", "duplicate_of__key",
)  # fmt: skip
REPORT_TEST_FIELDS = (
    "bug_id", "node_id", "is_flaky", "quarantined", "last_result__outcome", "last_result__run_id", "last_result__message",
    "last_result__run__commit_sha", "last_result__run__finished_at", "proof_verdict", "proof_detail", "proof_parent", "proof_fix",
)  # fmt: skip


@dataclass
class TriageData:
    """Everything the triage report shows, as plain rows read in a fixed number of queries.

    Rows, not model instances: building 10,000 bugs and 20,000 tests as models costs seconds.
    """

    generated_at: datetime
    bugs: list[dict[str, Any]]
    tests_by_bug: dict[int, list[dict[str, Any]]]
    sla_hours: dict[str, int]
    latest_run: Run | None
    filters: dict[str, list[str]] = field(default_factory=dict)


def triage_data(
    *,
    severities: Iterable[str] = (),
    statuses: Iterable[str] = (),
    keys: Iterable[str] = (),
    project: str = "",
    now: datetime | None = None,
) -> TriageData:
    """The report's data: four queries whatever the number of bugs and results (``project``: a slug)."""
    severities, statuses, keys = list(severities), list(statuses), list(keys)
    hours = {str(k): int(v) for k, v in DEFAULT_SLA_HOURS.items()}
    hours.update(dict(SeverityPolicy.objects.values_list("severity", "sla_hours")))
    bugs = Bug.objects.all()
    if severities:
        bugs = bugs.filter(severity__in=severities)
    if statuses:
        bugs = bugs.filter(status__in=statuses)
    if keys:
        bugs = bugs.filter(key__in=keys)
    if project:
        bugs = bugs.filter(project__slug=project)
    tests: dict[int, list[dict[str, Any]]] = defaultdict(list)
    links = RegressionTest.objects.filter(bug__in=bugs.values("pk")).order_by("bug_id", "node_id").values(*REPORT_TEST_FIELDS)
    for link in links:
        tests[link["bug_id"]].append(link)
    return TriageData(
        generated_at=now or timezone.now(),
        bugs=list(bugs.order_by("severity", "key").values(*REPORT_BUG_FIELDS)),
        tests_by_bug=tests,
        sla_hours=hours,
        latest_run=run_latest_finished(project=project),
        filters={
            k: v for k, v in (("project", [project] if project else []), ("severity", severities), ("status", statuses), ("key", keys)) if v
        },
    )


def dashboard_open_bugs_by_day(*, days: int = 30, now: datetime | None = None) -> tuple[list[date], dict[str, list[int]]]:
    """Open bugs of each severity at the end of each of the last ``days`` days, oldest first.

    Open means the SLA clock runs (open, in progress, reopened), as in the SLA chart: a bug leaves the
    count when it is fixed (it then waits for its verifying run, counted apart by
    :func:`dashboard_sla_by_severity`) or closed. Two aggregate queries whatever the number of bugs:
    bugs discovered per day and bugs that left per day (on their resolution, else on their last
    update), summed up in order.
    """
    first = (now or timezone.now()).astimezone(UTC).date() - timedelta(days=days - 1)
    index_of = {(first + timedelta(days=i)).isoformat(): i for i in range(days)}
    opened = Bug.objects.annotate(day=utc_period_key("discovered_at", period="day")).values_list("day", "severity").annotate(n=Count("pk"))
    closed = (
        Bug.objects.exclude(status__in=ACTIVE_STATUSES)
        .annotate(day=utc_period_key(Coalesce("resolved_at", "updated_at"), period="day"))
        .values_list("day", "severity")
        .annotate(n=Count("pk"))
    )
    deltas = {severity: [0] * days for severity in Severity.values}
    for rows, sign in ((opened.order_by(), 1), (closed.order_by(), -1)):
        for day, severity, count in rows:
            name = utc_period_name(day, period="day")
            # Everything before the window is the starting level; anything after it is left out.
            index = index_of.get(name, 0 if name < first.isoformat() else days)
            if index < days and severity in deltas:
                deltas[severity][index] += sign * count
    return [first + timedelta(days=i) for i in range(days)], {s: list(accumulate(v)) for s, v in deltas.items()}


def dashboard_sla_by_severity(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Per severity, the bugs whose SLA clock runs, how many of them are past due, and the fixed bugs
    still waiting for a verifying run (not open, not closed either): one query."""
    counts = {severity: {"open": 0, "breached": 0, "fixed": 0} for severity in Severity.values}
    active = Q(status__in=ACTIVE_STATUSES)
    rows = (
        Bug.objects.filter(active | Q(status=BugStatus.FIXED))
        .values("severity")
        .annotate(
            open=Count("pk", filter=active),
            breached=Count("pk", filter=active & Q(sla_due_at__lt=now or timezone.now())),
            fixed=Count("pk", filter=Q(status=BugStatus.FIXED)),
        )
        .order_by()
    )
    for row in rows:
        counts[row["severity"]] = {"open": row["open"], "breached": row["breached"], "fixed": row["fixed"]}
    return counts


def dashboard_run_pass_rates(*, limit: int = 20) -> list[dict[str, Any]]:
    """The last finished runs, oldest first, with their pass rate (passed over passed, failed and errors)."""
    fields = ("pk", "status", "passed", "failed", "errors", "skipped", "total", "commit_sha", "finished_at")
    finished = Run.objects.filter(status__in=TERMINAL_RUN_STATUSES).exclude(status=RunStatus.CANCELLED)
    rows: list[dict[str, Any]] = [dict(row) for row in finished.order_by("-id").values(*fields)[:limit]]
    for row in rows:
        decided = row["passed"] + row["failed"] + row["errors"]
        row["pass_rate"] = row["passed"] / decided if decided else None
    return rows[::-1]


def runs_stuck(*, now: datetime | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Runs stuck past their lease, oldest first: a shard whose worker stopped heartbeating or that no
    worker took within two leases, or an import whose reader went quiet (the reaper's next round takes
    them back). One query.
    """
    now = now or timezone.now()
    lease = timedelta(seconds=settings.ATOM_BUGS_LEASE_SECONDS)
    stuck = Q(shards__status=RunShard.Status.RUNNING, shards__lease_expires_at__lt=now)
    stuck |= Q(shards__status=RunShard.Status.QUEUED, shards__enqueued_at__lt=now - 2 * lease)
    stuck |= Q(upload__lease_expires_at__lt=now, status=RunStatus.RUNNING)
    stuck |= Q(trigger=Run.Trigger.IMPORT, status=RunStatus.QUEUED, created_at__lt=now - 2 * lease)
    rows = (
        Run.objects.filter(stuck, status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
        .values("pk", "status", "trigger", "created_at", "started_at", "suite__name", "suite__project_id")
        .distinct()
        .order_by("pk")[:limit]
    )
    return [dict(row) for row in rows]


def run_upload(*, run_id: int) -> RunUpload | None:
    """The report a run was imported from, as sent (None for a run that was not imported from an upload)."""
    return RunUpload.objects.filter(run_id=run_id).first()


def run_upload_slices(*, upload: RunUpload) -> Iterator[bytes]:
    """The bytes of an upload, slice by slice, one query each, so the whole report is never in memory.

    Raises ReportFormatError when a slice is missing or the slices do not add up to the upload's size:
    a report cut short is never read as a shorter one.
    """
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote('data')} FROM {quote(RunUploadPart._meta.db_table)} "  # noqa: S608  # nosec B608 - identifiers from model metadata
        f"WHERE {quote('upload_id')} = %s AND {quote('index')} = %s"
    )
    size = 0
    for index in range(upload.parts):
        with prepared_cursor() as cursor:
            cursor.execute(sql, [upload.pk, index])
            row = cursor.fetchone()
        if row is None:
            raise ReportFormatError(f"The stored upload lacks part {index + 1} of {upload.parts}.")
        data = bytes(row[0])
        size += len(data)
        yield data
    if size != upload.size:
        raise ReportFormatError(f"The stored upload holds {size} bytes, not the {upload.size} that were sent.")


def run_upload_open(*, upload: RunUpload) -> IO[bytes]:
    """The upload as a file to read from (see run_upload_slices)."""
    return io.BufferedReader(_SlicesReader(run_upload_slices(upload=upload)), buffer_size=1 << 16)


class _SlicesReader(io.RawIOBase):
    def __init__(self, slices: Iterator[bytes]) -> None:
        self._slices = slices
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            data = next(self._slices, None)
            if data is None:
                return 0
            self._current = memoryview(data)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n


def bug_comments(*, bug: Bug) -> QuerySet[Comment]:
    """A bug's comments, newest first, with their authors."""
    return Comment.objects.filter(bug=bug).select_related("author").order_by("-created_at", "-id")


# --- what the notifications hear about (read by the notifications app) --------------------------------

_NOTICE_FIELDS = ("pk", "key", "title", "severity", "status", "project_id", "sla_due_at", "is_regression")


def bug_notices(*, ids: Iterable[int]) -> list[dict[str, Any]]:
    """The few fields a notification tells of each bug."""
    return list(Bug.objects.filter(pk__in=list(ids)).order_by("pk").values(*_NOTICE_FIELDS))


def bugs_sla_due(*, after: datetime, until: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    """Bugs still in the SLA clock whose SLA falls due in [after, until), soonest first."""
    return list(
        Bug.objects.filter(status__in=ACTIVE_STATUSES, sla_due_at__gte=after, sla_due_at__lt=until)
        .order_by("sla_due_at", "pk")
        .values(*_NOTICE_FIELDS)[:limit]
    )


def runs_errored(*, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Runs that ended in error since ``since``, oldest first (one query)."""
    rows = (
        Run.objects.filter(status=RunStatus.ERROR, finished_at__gte=since)
        .order_by("pk")
        .values("pk", "status", "suite__name", "suite__project_id", "error_message")[:limit]
    )
    return [dict(row) for row in rows]


def flaky_tests_noticed(*, limit: int = 1000) -> list[dict[str, Any]]:
    """Linked tests marked flaky, with the commit they were first seen flaky at and their bug."""
    return [
        dict(row)
        for row in RegressionTest.objects.filter(is_flaky=True)
        .order_by("pk")
        .values("pk", "node_id", "flaky_commit", "bug__key", "bug__project_id")[:limit]
    ]


def suite_list() -> QuerySet[Suite]:
    """Suites with their project, by name (their latest venv builds are read per suite: a handful at most)."""
    return Suite.objects.select_related("project").order_by("name")
