"""Writes on bugs: creation with an SLA, edits, the status rules, test links, duplicates, policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from atom.errors import ConflictError, DomainError, NotFoundError
from bugs import git
from bugs.models import (
    ACTIVE_STATUSES,
    DEFAULT_SLA_HOURS,
    SLA_HOURS_MAX,
    Bug,
    BugResult,
    BugStatus,
    BugStatusChange,
    Outcome,
    RegressionTest,
    Result,
    Run,
    Severity,
    SeverityPolicy,
    Suite,
)

BUG_KEY = re.compile(r"^BUG-[0-9]{3,9}$")
# Severities that may not be resolved, or closed as fixed, without a linked regression test.
TEST_REQUIRED_SEVERITIES = (Severity.P0, Severity.P1)

# The status machine of SPEC section 6: from each status, where a person may move a bug.
# "resolved" is reachable only with evidence (a passing linked test on a commit containing the fix).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    BugStatus.OPEN: frozenset({BugStatus.IN_PROGRESS, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.IN_PROGRESS: frozenset({BugStatus.OPEN, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.FIXED: frozenset({BugStatus.IN_PROGRESS, BugStatus.RESOLVED, BugStatus.REOPENED}),
    BugStatus.RESOLVED: frozenset({BugStatus.REOPENED}),
    BugStatus.REOPENED: frozenset({BugStatus.IN_PROGRESS, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.DOCUMENTED: frozenset({BugStatus.REOPENED}),
    BugStatus.WONT_FIX: frozenset({BugStatus.REOPENED}),
    BugStatus.DUPLICATE: frozenset({BugStatus.REOPENED}),
}

EDITABLE_FIELDS = (
    "title",
    "severity",
    "category",
    "component",
    "description",
    "root_cause",
    "reproduction",
    "expected",
    "actual",
    "fix_strategy",
    "fix_commit",
    "verification_note",
    "reporter",
    "assignee",
    "discovered_at",
)


class StatusRefused(DomainError):
    """A status change the rules do not allow."""

    status_code = 409
    code = "STATUS_REFUSED"


def sla_hours_for(severity: str) -> int:
    """The SLA of a severity from the policy table, or the built-in default when no row exists.

    A row written before SLAs were bounded counts as the bound.
    """
    policy = SeverityPolicy.objects.filter(severity=severity).values_list("sla_hours", flat=True).first()
    return min(int(policy), SLA_HOURS_MAX) if policy is not None else DEFAULT_SLA_HOURS[Severity(severity)]


def sla_due_at(*, discovered_at: datetime, severity: str) -> datetime:
    """When a bug discovered at ``discovered_at`` breaches its SLA.

    A discovery more than a day ahead (clocks disagree, but not by more) is refused as a field error:
    no bug is found in the future, and a far-future date would overflow the sum.
    """
    if discovered_at > timezone.now() + timedelta(days=1):
        raise ValidationError({"discovered_at": "A bug cannot be discovered in the future."})
    return discovered_at + timedelta(hours=sla_hours_for(severity))


def suite_checkout(suite: Suite) -> Path:
    """Where the suite's tests live; a blank path is Atom's own code base."""
    return Path(suite.checkout_path) if suite.checkout_path else Path(settings.BASE_DIR)


def suite_default() -> Suite:
    """The default suite (Atom's own regression tests), created on first use if an admin deleted it."""
    suite, _ = Suite.objects.get_or_create(
        name=settings.ATOM_BUGS_DEFAULT_SUITE,
        defaults={"pytest_args": ["-m", "regression"], "description": "Atom's own regression tests."},
    )
    return suite


def bug_key_validate(key: str) -> str:
    """Normalise and check a bug key (``BUG-007``); raise a 400 DomainError when it is malformed."""
    normal = key.strip().upper()
    if not BUG_KEY.match(normal):
        raise DomainError(f"{key!r} is not a bug key like BUG-007.", code="INVALID_BUG_KEY", details={"key": key[:40]})
    return normal


def bug_next_key() -> str:
    """The next free key after the highest existing number."""
    numbers = [int(k.split("-", 1)[1]) for k in Bug.objects.values_list("key", flat=True) if BUG_KEY.match(k)]
    return f"BUG-{(max(numbers, default=0) + 1):03d}"


def _record(bug: Bug, *, from_status: str, to_status: str, actor: Any, reason: str, automatic: bool, run: Run | None = None) -> None:
    BugStatusChange.objects.create(
        bug=bug, from_status=from_status, to_status=to_status, actor=actor, automatic=automatic, reason=reason[:5000], run=run
    )


@transaction.atomic
def bug_create(*, key: str | None = None, title: str, severity: str, actor: Any = None, reason: str = "Reported.", **fields: Any) -> Bug:
    """Register a bug (status open) with its SLA due computed from the severity policy."""
    key = bug_key_validate(key) if key else bug_next_key()
    if Bug.objects.filter(key=key).exists():
        raise ConflictError(f"{key} already exists.", code="BUG_EXISTS")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if isinstance(fields.get("fix_commit"), str):
        fields["fix_commit"] = git.sha_normalize(fields["fix_commit"])
    discovered_at: datetime = fields.pop("discovered_at", None) or timezone.now()
    bug = Bug(
        key=key,
        title=title,
        severity=Severity(severity),
        discovered_at=discovered_at,
        sla_due_at=sla_due_at(discovered_at=discovered_at, severity=severity),
        reporter=fields.pop("reporter", None) or actor,
        **fields,
    )
    bug.full_clean(exclude=["reporter", "assignee", "duplicate_of", "verified_by"])
    bug.save()
    _record(bug, from_status="", to_status=bug.status, actor=actor, reason=reason, automatic=actor is None)
    return bug


@transaction.atomic
def bug_update(*, bug: Bug, actor: Any = None, **changes: Any) -> Bug:
    """Edit a bug's triage fields; a new severity or discovery time moves its SLA due.

    A fixed or resolved bug raised to a severity that needs a linked regression test must have one.
    """
    bug = Bug.objects.select_for_update().get(pk=bug.pk)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if isinstance(changes.get("fix_commit"), str):
        changes["fix_commit"] = git.sha_normalize(changes["fix_commit"])
    changed = [name for name, value in changes.items() if getattr(bug, name) != value]
    for name in changed:
        setattr(bug, name, changes[name])
    if "fix_commit" in changed and bug.status in (BugStatus.FIXED, BugStatus.RESOLVED) and not bug.fix_commit:
        raise StatusRefused("A fixed or resolved bug keeps its fix commit.")
    closed = bug.status in (BugStatus.FIXED, BugStatus.RESOLVED)
    if "severity" in changed and closed and bug.severity in TEST_REQUIRED_SEVERITIES and not bug.regression_tests.exists():
        raise StatusRefused(
            f"A {bug.severity} bug cannot be {bug.get_status_display().lower()} without a linked regression test.",
            details={"bug": bug.key, "status": bug.status, "severity": bug.severity},
        )
    if "severity" in changed or "discovered_at" in changed:
        bug.sla_due_at = sla_due_at(discovered_at=bug.discovered_at, severity=bug.severity)
        changed.append("sla_due_at")
    if changed:
        bug.full_clean(exclude=["reporter", "assignee", "duplicate_of", "verified_by"])
        bug.save(update_fields=[*changed, "updated_at"])
    return bug


@dataclass(frozen=True)
class Evidence:
    """The passing result that proves a fix, and the run it came from."""

    result: Result
    run: Run


def bug_evidence(*, bug: Bug, flaky_node_ids: frozenset[str] = frozenset()) -> Evidence | None:
    """The latest passing result of a linked test on a run whose commit contains the fix commit.

    Results of tests that are flaky on their commit are no evidence.
    """
    if not bug.fix_commit:
        return None
    linked = set(RegressionTest.objects.filter(bug=bug).values_list("node_id", flat=True))
    flaky_commits = dict(RegressionTest.objects.filter(bug=bug, is_flaky=True).values_list("node_id", "flaky_commit"))
    candidates = (
        Result.objects.filter(pk__in=BugResult.objects.filter(bug=bug).values("result"), outcome=Outcome.PASSED, node_id__in=linked)
        .exclude(run__commit_sha="")
        .select_related("run__suite")
        .order_by("-run_id")[:50]
    )
    for result in candidates:
        if result.node_id in flaky_node_ids or result.is_flaky or flaky_commits.get(result.node_id) == result.run.commit_sha:
            continue
        if git.contains(_repo_of(result.run.suite), commit=result.run.commit_sha, ancestor=bug.fix_commit):
            return Evidence(result=result, run=result.run)
    return None


def _repo_of(suite: Suite) -> Path | None:
    path = suite_checkout(suite)
    return path if path.is_dir() else None


def bug_status_refusal(*, bug: Bug, to_status: str, fix_commit: str | None = None, duplicate_of: Bug | None = None) -> str | None:
    """Why the rules refuse moving the bug to ``to_status`` (None when they allow it).

    One function answers for the services, the admin form and the API, so the rules live once.
    """
    if to_status not in BugStatus.values:
        return f"{to_status!r} is not a status."
    if to_status == bug.status:
        return _fix_commit_change_refusal(bug=bug, fix_commit=fix_commit)
    if to_status not in ALLOWED_TRANSITIONS[bug.status]:
        return f"A {bug.get_status_display().lower()} bug cannot move to {BugStatus(to_status).label.lower()}."
    commit = bug.fix_commit if fix_commit is None else fix_commit
    needs_test = bug.severity in TEST_REQUIRED_SEVERITIES
    if to_status == BugStatus.FIXED:
        if not commit:
            return "A bug is fixed by a commit: give the fix commit."
        if needs_test and not bug.regression_tests.exists():
            return f"A {bug.severity} bug cannot be closed as fixed without a linked regression test."
    if to_status == BugStatus.RESOLVED:
        if needs_test and not bug.regression_tests.exists():
            return f"A {bug.severity} bug cannot be resolved without a linked regression test."
        if bug_evidence(bug=bug) is None:
            return "Resolved needs a linked regression test that passed on a run whose commit contains the fix commit."
    if to_status == BugStatus.DUPLICATE:
        if duplicate_of is None:
            return "A duplicate names the bug it duplicates."
        if _duplicate_chain_reaches(start=duplicate_of, bug=bug):
            return "A bug cannot duplicate itself, directly or through a chain of duplicates."
    return None


def _duplicate_chain_reaches(*, start: Bug, bug: Bug) -> bool:
    """Whether ``start`` or a bug it is (transitively) a duplicate of is ``bug``."""
    seen: set[int] = set()
    current: int | None = start.pk
    while current is not None and current not in seen:
        if current == bug.pk:
            return True
        seen.add(current)
        current = Bug.objects.filter(pk=current).values_list("duplicate_of_id", flat=True).first()
    return False


def _fix_commit_change_refusal(*, bug: Bug, fix_commit: str | None) -> str | None:
    """Why the rules refuse changing the fix commit while the status stays (None when they allow it)."""
    if fix_commit is None or fix_commit == bug.fix_commit:
        return None
    if bug.status in (BugStatus.FIXED, BugStatus.RESOLVED) and not fix_commit:
        return "A fixed or resolved bug keeps its fix commit."
    if bug.status == BugStatus.RESOLVED:
        return "A resolved bug's fix commit was verified by a run: reopen the bug to change it."
    return None


@transaction.atomic
def bug_transition(
    *,
    bug: Bug,
    to_status: str,
    actor: Any = None,
    reason: str,
    fix_commit: str | None = None,
    duplicate_of: Bug | None = None,
    automatic: bool = False,
    run: Run | None = None,
    evidence: Evidence | None = None,
) -> Bug:
    """Move a bug to another status under the rules of SPEC section 6 and record who, when and why."""
    bug = Bug.objects.select_for_update().get(pk=bug.pk)
    if fix_commit is not None:
        fix_commit = git.sha_normalize(fix_commit)
        if fix_commit and not git.is_sha(fix_commit):
            raise DomainError("The fix commit must be a commit hash.", code="INVALID_COMMIT")
    if evidence is None:
        refusal = bug_status_refusal(bug=bug, to_status=to_status, fix_commit=fix_commit, duplicate_of=duplicate_of)
        if refusal:
            raise StatusRefused(refusal, details={"bug": bug.key, "from": bug.status, "to": to_status})
    if to_status == bug.status and fix_commit in (None, bug.fix_commit):
        return bug
    previous = bug.status
    if fix_commit is not None:
        bug.fix_commit = fix_commit
    if to_status == BugStatus.RESOLVED:
        found = evidence or bug_evidence(bug=bug)
        assert found is not None  # bug_status_refusal checked it
        bug.verified_by = found.result
        bug.resolved_at = timezone.now()
        bug.is_regression = False
        bug.verification_note = (
            f"{found.result.node_id} passed on run #{found.run.pk} at {found.run.commit_sha[:12]}, which contains {bug.fix_commit[:12]}."
        )
    elif to_status == BugStatus.REOPENED:
        bug.verified_by = None
        bug.resolved_at = None
    bug.duplicate_of = duplicate_of if to_status == BugStatus.DUPLICATE else None
    bug.status = to_status
    bug.save()
    _record(bug, from_status=previous, to_status=to_status, actor=actor, reason=reason, automatic=automatic, run=run)
    return bug


def bug_mark_duplicate(*, bugs: list[Bug], of: Bug, actor: Any = None, reason: str = "") -> int:
    """Close each bug as a duplicate of ``of`` (skipping ``of`` itself); return how many moved."""
    moved = 0
    for bug in bugs:
        if bug.pk == of.pk or (bug.status == BugStatus.DUPLICATE and bug.duplicate_of_id == of.pk):
            continue
        bug_transition(bug=bug, to_status=BugStatus.DUPLICATE, duplicate_of=of, actor=actor, reason=reason or f"Duplicate of {of.key}.")
        moved += 1
    return moved


def bug_link_test(*, bug: Bug, node_id: str, source: str = RegressionTest.Source.MANUAL) -> RegressionTest:
    """Link a pytest node id to the bug (idempotent)."""
    from bugs.services.runs import node_id_validate

    link, _ = RegressionTest.objects.get_or_create(bug=bug, node_id=node_id_validate(node_id), defaults={"source": source})
    return link


def bug_by_key(key: str) -> Bug:
    """The bug with this key, or a 404 DomainError."""
    bug = Bug.objects.filter(key=bug_key_validate(key)).first()
    if bug is None:
        raise NotFoundError(f"{key} does not exist.")
    return bug


@transaction.atomic
def severity_policy_update(*, severity: str, sla_hours: int) -> SeverityPolicy:
    """Change a severity's SLA and move the due time of every bug of that severity still in the SLA clock."""
    if sla_hours < 1:
        raise DomainError("An SLA is at least one hour.")
    if sla_hours > SLA_HOURS_MAX:
        raise DomainError(f"An SLA is at most {SLA_HOURS_MAX} hours (ten years).")
    policy, _ = SeverityPolicy.objects.update_or_create(severity=Severity(severity), defaults={"sla_hours": sla_hours})
    for bug in Bug.objects.filter(severity=severity, status__in=ACTIVE_STATUSES).only("pk", "discovered_at"):
        Bug.objects.filter(pk=bug.pk).update(sla_due_at=bug.discovered_at + timedelta(hours=sla_hours))
    return policy
