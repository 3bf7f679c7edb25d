"""Writes on bugs: creation with an SLA, edits, test links, the severity policy.

Status changes go through :mod:`bugs.services.status`, where every rule of SPEC section 6 lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

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
    BugStatus,
    Project,
    RegressionTest,
    Severity,
    SeverityPolicy,
)
from bugs.services.status import TEST_REQUIRED_SEVERITIES, StatusRefused, _record, bug_transition
from bugs.validators import BUG_KEY, bug_key_validate

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


def bug_next_key() -> str:
    """The next free key after the highest existing number."""
    numbers = [int(k.split("-", 1)[1]) for k in Bug.objects.values_list("key", flat=True) if BUG_KEY.match(k)]
    return f"BUG-{(max(numbers, default=0) + 1):03d}"


@transaction.atomic
def bug_create(
    *,
    key: str | None = None,
    title: str,
    severity: str,
    actor: Any = None,
    reason: str = "Reported.",
    project: Project | None = None,
    **fields: Any,
) -> Bug:
    """Register a bug (status open) with its SLA due computed from the severity policy, in ``project``
    (by default the default project, ``ATOM_DEFAULT_PROJECT``). Keys are global across projects."""
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
        **({"project": project} if project is not None else {}),
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


@transaction.atomic
def bug_change(
    *,
    bug: Bug,
    actor: Any,
    reason: str,
    status: str | None = None,
    fix_commit: str | None = None,
    duplicate_of: Bug | None = None,
    tests: Iterable[str] = (),
    **fields: Any,
) -> Bug:
    """One edit of a bug by a person, from the API or the admin: all of it applies, or none.

    Test links come first (a severity that needs a regression test may arrive with its test), then the
    fields, then the status and fix commit under the rules of SPEC section 6 when either is given.
    """
    for node_id in tests:
        bug_link_test(bug=bug, node_id=node_id)
    bug = bug_update(bug=bug, actor=actor, **fields)
    if status is not None or fix_commit is not None:
        bug = bug_transition(
            bug=bug, to_status=status or bug.status, fix_commit=fix_commit, duplicate_of=duplicate_of, actor=actor, reason=reason
        )
    return bug


def bug_link_test(*, bug: Bug, node_id: str, source: str = RegressionTest.Source.MANUAL) -> RegressionTest:
    """Link a test to the bug (idempotent): a pytest node id or the text form of another tool's test identity."""
    from bugs.validators import test_link_validate

    link, _ = RegressionTest.objects.get_or_create(bug=bug, node_id=test_link_validate(node_id), defaults={"source": source})
    return link


def bug_assign(*, bug: Bug, assignee: Any, actor: Any) -> Bug:
    """Give the bug to a user (or to nobody with None); only an active user can take a bug."""
    if assignee is not None and not assignee.is_active:
        raise DomainError("Only an active user can be assigned a bug.", code="INACTIVE_ASSIGNEE")
    return bug_update(bug=bug, actor=actor, assignee=assignee)


@transaction.atomic
def regression_test_quarantine(*, node_id: str, quarantined: bool) -> int:
    """Quarantine (or release) every link of a test: it still runs, but never resolves or reopens a bug.

    Returns how many links changed.
    """
    return RegressionTest.objects.filter(node_id=node_id).exclude(quarantined=quarantined).update(quarantined=quarantined)


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
