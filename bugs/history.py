"""Reads of the bugs' history for the console: a bug's page, a run's failures, the tests' flake rates.

Each function reads in a fixed number of queries whatever the length of the history: the latest results
of each test come from one ranked query (a window function), never from one query per test or per run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from bugs.models import (
    FAILING_OUTCOMES,
    INTERRUPTED_RUN_STATUSES,
    Bug,
    BugResult,
    BugStatus,
    BugStatusChange,
    Comment,
    Outcome,
    RegressionTest,
    Result,
)

# How many results of each linked test the bug page shows.
STRIP_LENGTH = 30
# How many status changes and runs the bug page's timeline shows.
TIMELINE_LENGTH = 50
# How many failures of one run the triage section groups (the rest is in the run's result list).
FAILURES_SHOWN = 500

RESULT_FIELDS = (
    "pk", "node_id", "outcome", "is_flaky", "attempts", "message", "traceback", "run_id", "run__commit_sha",
    "run__branch", "run__status", "run__created_at", "run__finished_at",
)  # fmt: skip


def strip_kind(*, outcome: str, is_flaky: bool) -> str:
    """The five kinds a result strip shows: passed, failed, skipped, flaky, error."""
    if is_flaky:
        return "flaky"
    if outcome in (Outcome.PASSED, Outcome.XPASSED):
        return "passed"
    if outcome in (Outcome.SKIPPED, Outcome.XFAILED):
        return "skipped"
    return "error" if outcome == Outcome.ERROR else "failed"


def _latest_results(results: QuerySet[Result], node_ids: Iterable[str], *, per_test: int) -> list[dict[str, Any]]:
    """The latest ``per_test`` results of each node id among ``results``, newest first: one query."""
    ranked = (
        results.filter(node_id__in=list(node_ids))
        .annotate(rank=Window(RowNumber(), partition_by=[F("node_id")], order_by=F("run_id").desc()))
        .filter(rank__lte=per_test)
        .order_by("node_id", "-run_id")
    )
    rows = [dict(row) for row in ranked.values(*RESULT_FIELDS)]
    for row in rows:
        row["kind"] = strip_kind(outcome=row["outcome"], is_flaky=row["is_flaky"])
    return rows


def _attached_to(bug: Bug) -> QuerySet[Result]:
    # Through the attachments (led by the bug), never a scan of every result by node id.
    return Result.objects.filter(pk__in=BugResult.objects.filter(bug=bug).values("result"))


@dataclass
class TestHistory:
    """A linked test with its latest results, newest first."""

    link: RegressionTest
    results: list[dict[str, Any]]

    @property
    def strip(self) -> list[dict[str, Any]]:
        """Oldest first, as a strip reads from left to right."""
        return self.results[::-1]


@dataclass
class TimelineEntry:
    at: datetime | None
    kind: str  # status, run, commit, comment
    text: str
    run_id: int | None = None
    detail: str = ""
    # A comment's body: rendered and sanitized when it was posted (bugs.services.comments).
    html: str = ""


@dataclass
class BugPage:
    """Everything the bug's read page shows."""

    bug: Bug
    tests: list[TestHistory]
    timeline: list[TimelineEntry]
    failures: list[dict[str, Any]] = field(default_factory=list)


def bug_page(*, pk: int | str) -> BugPage | None:
    """A bug with its linked tests' latest results, its timeline (comments included) and its failure messages: five queries."""
    bug = Bug.objects.select_related("assignee", "reporter", "duplicate_of", "verified_by__run").filter(pk=pk).first()
    if bug is None:
        return None
    links = list(RegressionTest.objects.filter(bug=bug).select_related("last_result").order_by("node_id"))
    rows = _latest_results(_attached_to(bug), (link.node_id for link in links), per_test=STRIP_LENGTH) if links else []
    by_node: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_node[row["node_id"]].append(row)
    changes = list(BugStatusChange.objects.filter(bug=bug).select_related("actor").order_by("-created_at", "-id")[:TIMELINE_LENGTH])
    comments = list(Comment.objects.filter(bug=bug).select_related("author").order_by("-created_at", "-id")[:TIMELINE_LENGTH])
    return BugPage(
        bug=bug,
        tests=[TestHistory(link=link, results=by_node.get(link.node_id, [])) for link in links],
        timeline=_timeline(bug, changes, rows, comments),
        failures=_failure_messages(rows),
    )


def _timeline(bug: Bug, changes: list[BugStatusChange], rows: list[dict[str, Any]], comments: list[Comment]) -> list[TimelineEntry]:
    """Status changes, the runs of the linked tests, the fix commit and the comments, newest first."""
    entries = [
        TimelineEntry(
            at=change.created_at,
            kind="status",
            text=f"{change.from_status or 'new'} → {change.to_status}",
            run_id=change.run_id,
            detail=f"{'automatic' if change.automatic else (change.actor.get_username() if change.actor else 'unknown')}: {change.reason}",
        )
        for change in changes
    ]
    runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        runs[row["run_id"]].append(row)
    for run_id in sorted(runs, reverse=True)[:TIMELINE_LENGTH]:
        first = runs[run_id][0]
        outcomes = ", ".join(f"{row['node_id'].rsplit('::', 1)[-1]} {row['kind']}" for row in runs[run_id])
        # Why a test errored (for a test pytest never ran, "not run: <reason>"), once per reason.
        reasons = dict.fromkeys(row["message"].splitlines()[0][:300] for row in runs[run_id] if row["kind"] == "error" and row["message"])
        commit = f" at {first['run__commit_sha'][:12]}" if first["run__commit_sha"] else ""
        entries.append(
            TimelineEntry(
                at=first["run__finished_at"] or first["run__created_at"],
                kind="run",
                text=f"Run #{run_id}{commit}: {first['run__status']}",
                run_id=run_id,
                detail="; ".join([outcomes, *reasons]),
            )
        )
    if bug.fix_commit:
        fixed_at = next((c.created_at for c in changes if c.to_status == BugStatus.FIXED), bug.updated_at)
        entries.append(TimelineEntry(at=fixed_at, kind="commit", text=f"Fix commit {bug.fix_commit[:12]}", detail=bug.fix_commit))
    entries += [
        TimelineEntry(
            at=comment.created_at,
            kind="comment",
            text=f"{comment.author.get_username() if comment.author else 'unknown'} wrote",
            html=comment.html,
        )
        for comment in comments
    ]
    entries.sort(key=lambda entry: (entry.at is not None, entry.at), reverse=True)
    return entries


def _failure_messages(rows: list[dict[str, Any]], *, limit: int = 10) -> list[dict[str, Any]]:
    """The latest failing results with a message, one per distinct message."""
    seen: set[tuple[str, str]] = set()
    failures = []
    for row in sorted(rows, key=lambda r: -r["run_id"]):
        if row["outcome"] not in FAILING_OUTCOMES or not (row["message"] or row["traceback"]):
            continue
        signature = (row["node_id"], row["message"])
        if signature in seen:
            continue
        seen.add(signature)
        failures.append(row)
        if len(failures) == limit:
            break
    return failures


def _assignable() -> QuerySet[Any]:
    return get_user_model().objects.filter(is_active=True, is_staff=True)


def assignable_users(*, limit: int = 500) -> list[Any]:
    """The users a bug can be given to: active staff, by name (one query, bounded)."""
    return list(_assignable().order_by("username").only("pk", "username")[:limit])


def assignable_user(*, pk: str) -> Any | None:
    """One user a bug can be given to, or None."""
    return _assignable().filter(pk=int(pk)).first() if pk.isdigit() else None


# --- a run's failures, grouped --------------------------------------------------------------------------

_EXCEPTION = re.compile(r"^(?:E\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failed|Warning|Failure))\b:?\s*(.*)$")


def failure_signature(*, message: str, traceback: str = "") -> tuple[str, str]:
    """(exception type, first line of the message) of a failure: what makes two failures the same."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    first = lines[0] if lines else ""
    match = _EXCEPTION.match(first)
    if match:
        return match.group(1), match.group(2)[:300]
    for line in reversed(traceback.splitlines()):
        found = _EXCEPTION.match(line.strip())
        if found:
            return found.group(1), first[:300]
    return "", first[:300]


@dataclass
class FailureGroup:
    """Failures of one run with the same exception type and message."""

    exception: str
    message: str
    results: list[dict[str, Any]]

    @property
    def result_ids(self) -> str:
        return ",".join(str(row["pk"]) for row in self.results)

    @property
    def bugs(self) -> list[str]:
        return sorted({key for row in self.results for key in row["bugs"]})


def run_failure_groups(*, run_id: int) -> list[FailureGroup]:
    """The run's failing results grouped by exception type and message, with the bugs each is attached to: two queries."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Result.objects.filter(run_id=run_id, outcome__in=FAILING_OUTCOMES)
        .order_by("node_id")
        .values("pk", "node_id", "outcome", "message", "traceback")[:FAILURES_SHOWN]
    ]
    attached: dict[int, list[str]] = defaultdict(list)
    for result_id, key in BugResult.objects.filter(result_id__in=[row["pk"] for row in rows]).values_list("result_id", "bug__key"):
        attached[result_id].append(key)
    groups: dict[tuple[str, str], FailureGroup] = {}
    for row in rows:
        row["bugs"] = attached.get(row["pk"], [])
        exception, message = failure_signature(message=row["message"], traceback=row["traceback"])
        groups.setdefault((exception, message), FailureGroup(exception=exception, message=message, results=[])).results.append(row)
    return sorted(groups.values(), key=lambda group: (-len(group.results), group.exception, group.message))


def results_for_triage(*, run_id: int, result_ids: Iterable[int]) -> list[Result]:
    """Failing results of one run, by id, with their run: what a bug created from a failure takes."""
    return list(
        Result.objects.filter(run_id=run_id, pk__in=list(result_ids), outcome__in=FAILING_OUTCOMES)
        .select_related("run")
        .order_by("node_id")
    )


# --- flake rates ----------------------------------------------------------------------------------------


@dataclass
class FlakeRate:
    """One linked test's flakiness over its latest results."""

    node_id: str
    links: list[RegressionTest]
    runs: int
    flaky: int
    first_flaky_commit: str
    last_flaky_commit: str

    @property
    def bug_keys(self) -> list[str]:
        return [link.bug.key for link in self.links]

    @property
    def quarantined(self) -> bool:
        return any(link.quarantined for link in self.links)

    @property
    def rate(self) -> float:
        return self.flaky / self.runs if self.runs else 0.0


def flake_rates(*, window: int | None = None) -> list[FlakeRate]:
    """Each linked test's flake rate over its latest ``window`` runs (ATOM_BUGS_FLAKY_WINDOW), worst first: two queries.

    A result counts as flaky when it passed after failing within its run, or when the same test both
    passed and failed on its commit within the window. One row per node id (a test linked to two bugs
    is one test); the switch acts on every link of that node id.
    """
    window = window or settings.ATOM_BUGS_FLAKY_WINDOW
    links = list(RegressionTest.objects.select_related("bug").order_by("node_id", "bug__key"))
    by_node: dict[str, list[RegressionTest]] = defaultdict(list)
    for link in links:
        by_node[link.node_id].append(link)
    attached = Result.objects.filter(pk__in=BugResult.objects.values("result"))
    rows = _latest_results(attached, by_node, per_test=window) if by_node else []
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        history[row["node_id"]].append(row)
    rates = []
    for node_id, node_links in by_node.items():
        results = history.get(node_id, [])
        mixed = _mixed_commits(results)
        flaky = [row for row in results if row["is_flaky"] or row["run__commit_sha"] in mixed]
        rates.append(
            FlakeRate(
                node_id=node_id,
                links=node_links,
                runs=len(results),
                flaky=len(flaky),
                first_flaky_commit=flaky[-1]["run__commit_sha"] if flaky else "",
                last_flaky_commit=flaky[0]["run__commit_sha"] if flaky else "",
            )
        )
    return sorted(rates, key=lambda rate: (-rate.rate, rate.node_id))


def _mixed_commits(results: list[dict[str, Any]]) -> set[str]:
    """Commits on which the test both passed and failed (runs that did not go to the end left aside)."""
    decided = [row for row in results if row["run__commit_sha"] and row["run__status"] not in INTERRUPTED_RUN_STATUSES]
    passed = {row["run__commit_sha"] for row in decided if row["kind"] == "passed"}
    failed = {row["run__commit_sha"] for row in decided if row["outcome"] in FAILING_OUTCOMES}
    return passed & failed
