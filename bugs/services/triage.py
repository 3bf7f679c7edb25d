"""Reading a triage report back into bugs (``manage.py import_triage``), idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from atom.errors import DomainError
from bugs.models import Bug, BugStatus, RegressionTest, Severity
from bugs.report import ParsedBug, TriageFormatError, triage_parse
from bugs.report_markdown import one_line
from bugs.services.bugs import bug_create, bug_update, sla_hours_for
from bugs.services.status import bug_status_refusal, bug_transition
from bugs.validators import test_link_validate

_IMPORT_REASON = "Imported from a triage report."


@dataclass
class ImportSummary:
    """What an import changed; warnings name what the rules or the input refused."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _wanted_status(parsed: ParsedBug, bug: Bug) -> str | None:
    # "Resolved" means verified by a run here; an imported claim of it becomes "fixed" until a run proves it.
    if parsed.status == BugStatus.RESOLVED and bug.status != BugStatus.RESOLVED:
        return BugStatus.FIXED
    return parsed.status


def _field_values(parsed: ParsedBug) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in parsed.fields.items() if k not in ("severity", "sla_due_at", "reported_category")}
    if "discovered_at" in values:
        values["discovered_at"] = parse_datetime(values["discovered_at"])
    if parsed.title:
        values["title"] = parsed.title[:300]
    return values


@transaction.atomic
def triage_import(*, text: str, actor: Any = None) -> ImportSummary:
    """Create or update the bugs a triage report states; a second import of the same report changes nothing.

    Blank fields never erase stored values. Status changes go through the status rules: a refused one
    is reported as a warning and the bug keeps its status. A report bug whose key names another bug
    here (another title) is refused with a warning and changes nothing. A field that cannot be read or
    stored refuses the whole report (INVALID_REPORT, naming the bug and the field) and nothing is imported.
    """
    try:
        parsed_bugs = triage_parse(text)
    except TriageFormatError as exc:
        raise DomainError(str(exc), code="INVALID_REPORT") from exc
    if not parsed_bugs:
        raise DomainError("The file holds no bugs (no '### BUG-NNN' headings).", code="EMPTY_REPORT")
    summary = ImportSummary()
    for parsed in parsed_bugs:
        try:
            _import_one(parsed, actor=actor, summary=summary)
        except ValidationError as exc:
            raise DomainError(f"{parsed.key}: {_reason(exc)}", code="INVALID_REPORT", details={"bug": parsed.key}) from exc
    for parsed in parsed_bugs:
        if parsed.status != BugStatus.DUPLICATE or not parsed.duplicate_of or parsed.key in summary.refused:
            continue
        bug = Bug.objects.filter(key=parsed.key).first()
        if bug is not None:
            target = Bug.objects.filter(key=parsed.duplicate_of).first()
            if target is None or parsed.duplicate_of in summary.refused:
                # A refused key names another bug here: marking a duplicate of it would point at the wrong bug.
                summary.warnings.append(f"{parsed.key}: Status: duplicate of unknown {parsed.duplicate_of}; not marked.")
            elif bug.status != BugStatus.DUPLICATE:
                _move(bug, BugStatus.DUPLICATE, actor=actor, summary=summary, duplicate_of=target)
    return summary


def _reason(exc: ValidationError) -> str:
    """A validation error as one line: ``field: message; field: message``."""
    if hasattr(exc, "error_dict"):
        text = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    else:
        text = " ".join(exc.messages)
    return " ".join(text.split())


def _differs(bug: Bug, name: str, value: Any) -> bool:
    """Whether the report's value differs from the bug's; times are compared to the second, as the report writes them."""
    current = getattr(bug, name)
    if name in ("discovered_at", "sla_due_at") and current is not None:
        return bool(current.replace(microsecond=0) != value)
    return bool(current != value)


def _discovered(parsed: ParsedBug, *, deadline: datetime | None, severity: str | None, summary: ImportSummary) -> datetime | None:
    """When a bug was discovered by what the report says, if it gives no date of its own.

    The older shape dates the whole report (Generated) and gives each bug a deadline; with only the
    deadline, the discovery is the deadline less the severity's SLA, so the SLA due stays the report's.
    """
    if parsed.report_date:
        return parse_datetime(parsed.report_date)
    if deadline is None or severity is None:
        return None
    try:
        return deadline - timedelta(hours=sla_hours_for(severity))
    except OverflowError:
        summary.warnings.append(f"{parsed.key}: SLA: the deadline {deadline:%Y-%m-%d} is too early to date the discovery.")
        return None


def _keep_deadline(bug: Bug, deadline: datetime, *, summary: ImportSummary) -> bool:
    """Set the report's own SLA deadline on the bug, unless it falls before the discovery."""
    if deadline < bug.discovered_at:
        summary.warnings.append(
            f"{bug.key}: SLA: the deadline {deadline:%Y-%m-%d %H:%M} is before the discovery; the policy's SLA is kept."
        )
        return False
    # The SLA due is derived from the severity everywhere else, so no service sets it; the report's deadline is the exception.
    Bug.objects.filter(pk=bug.pk).update(sla_due_at=deadline, updated_at=timezone.now())
    bug.sla_due_at = deadline
    return True


def _other_bug(parsed: ParsedBug, bug: Bug | None) -> bool:
    """Whether the report's bug is another bug than the one with its key here (keys are numbered per catalog)."""
    if bug is None or not parsed.title:
        return False
    return one_line(parsed.title)[:300] != one_line(bug.title)[:300]


def _import_one(parsed: ParsedBug, *, actor: Any, summary: ImportSummary) -> None:
    bug = Bug.objects.filter(key=parsed.key).first()
    if bug is not None and _other_bug(parsed, bug):
        summary.refused.append(parsed.key)
        summary.warnings.append(f"{parsed.key}: refused: here it is {bug.title!r}, the report's is {parsed.title!r}; nothing imported.")
        return
    summary.warnings.extend(parsed.warnings)
    values = _field_values(parsed)
    severity = parsed.fields.get("severity")
    changed = False
    deadline = parse_datetime(parsed.fields["sla_due_at"]) if "sla_due_at" in parsed.fields else None
    if values.get("discovered_at") is None:
        discovered_by_report = _discovered(parsed, deadline=deadline, severity=severity or (bug.severity if bug else None), summary=summary)
        if discovered_by_report is not None:
            values["discovered_at"] = discovered_by_report
    if bug is None:
        if not severity or not parsed.title:
            summary.warnings.append(f"{parsed.key}: a new bug needs a title and a severity; skipped.")
            return
        discovered: datetime | None = values.pop("discovered_at", None)
        fix_commit = values.pop("fix_commit", "")
        bug = bug_create(
            key=parsed.key, severity=Severity(severity), actor=actor, reason=_IMPORT_REASON, discovered_at=discovered, **values
        )
        values = {"fix_commit": fix_commit} if fix_commit else {}
        summary.created.append(bug.key)
    if severity and severity != bug.severity:
        values["severity"] = severity
    differing = {k: v for k, v in values.items() if v is not None and _differs(bug, k, v) and k != "fix_commit"}
    if differing:
        bug = bug_update(bug=bug, actor=actor, **differing)
        changed = True
    reported = parsed.fields.get("reported_category")
    if reported is not None and reported != bug.reported_category:
        # Kept for the record only; no rule reads it, so the services do not edit it.
        Bug.objects.filter(pk=bug.pk).update(reported_category=reported, updated_at=timezone.now())
        bug.reported_category = reported
        changed = True
    if deadline is not None and _differs(bug, "sla_due_at", deadline):
        changed = _keep_deadline(bug, deadline, summary=summary) or changed
    for node_id in parsed.node_ids:
        try:
            _, created = RegressionTest.objects.get_or_create(
                bug=bug, node_id=test_link_validate(node_id), defaults={"source": RegressionTest.Source.IMPORT}
            )
        except DomainError:
            summary.warnings.append(f"{parsed.key}: Tests: {node_id!r} is not a pytest node id; not linked.")
            continue
        changed = changed or created
    fix_commit = values.get("fix_commit")
    wanted = _wanted_status(parsed, bug)
    keeps_commit = bug.status in (BugStatus.FIXED, BugStatus.RESOLVED) or wanted in (BugStatus.FIXED, None)
    if fix_commit and fix_commit != bug.fix_commit and keeps_commit:
        bug = bug_update(bug=bug, actor=actor, fix_commit=fix_commit)
        changed = True
    if wanted and wanted != bug.status and wanted != BugStatus.DUPLICATE:
        changed = _move(bug, wanted, actor=actor, summary=summary, fix_commit=fix_commit) or changed
    if bug.key not in summary.created:
        (summary.updated if changed else summary.unchanged).append(bug.key)


def _move(
    bug: Bug, to_status: str, *, actor: Any, summary: ImportSummary, fix_commit: str | None = None, duplicate_of: Bug | None = None
) -> bool:
    bug.refresh_from_db()
    refusal = bug_status_refusal(bug=bug, to_status=to_status, fix_commit=fix_commit, duplicate_of=duplicate_of)
    if refusal:
        summary.warnings.append(f"{bug.key}: Status: stays {bug.status}: {refusal}")
        return False
    bug_transition(bug=bug, to_status=to_status, actor=actor, reason=_IMPORT_REASON, fix_commit=fix_commit, duplicate_of=duplicate_of)
    return True
