"""The status rules of SPEC section 6, table-driven: every allowed move and every refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from bugs.models import Bug, BugStatus
from bugs.parsers import ParsedResult
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.results import results_store
from bugs.services.status import ALLOWED_TRANSITIONS, StatusRefused, bug_transition
from bugs.tests.factories import make_bug, make_run

pytestmark = pytest.mark.django_db

FIX = "abcdef1234567890abcdef1234567890abcdef12"


@dataclass(frozen=True)
class Case:
    severity: str
    start: str
    to: str
    linked: bool = False
    fix_commit: str = ""
    evidence: bool = False
    duplicate: bool = False
    allowed: bool = True
    why: str = ""


CASES = [
    Case("P2", "open", "in_progress"),
    Case("P2", "open", "fixed", fix_commit=FIX),
    Case("P2", "open", "fixed", allowed=False, why="fix commit"),
    Case("P0", "open", "fixed", fix_commit=FIX, allowed=False, why="without a linked regression test"),
    Case("P1", "in_progress", "fixed", fix_commit=FIX, allowed=False, why="without a linked regression test"),
    Case("P0", "open", "fixed", fix_commit=FIX, linked=True),
    Case("P0", "fixed", "resolved", fix_commit=FIX, allowed=False, why="without a linked regression test"),
    Case("P0", "fixed", "resolved", fix_commit=FIX, linked=True, allowed=False, why="passed on a run"),
    Case("P0", "fixed", "resolved", fix_commit=FIX, linked=True, evidence=True),
    Case("P3", "fixed", "resolved", fix_commit=FIX, linked=True, evidence=True),
    Case("P2", "open", "resolved", fix_commit=FIX, linked=True, evidence=True, allowed=False, why="cannot move"),
    Case("P2", "resolved", "reopened", fix_commit=FIX, linked=True, evidence=True),
    Case("P2", "resolved", "open", fix_commit=FIX, linked=True, evidence=True, allowed=False, why="cannot move"),
    Case("P2", "open", "duplicate", duplicate=True),
    Case("P2", "open", "duplicate", allowed=False, why="names the bug"),
    Case("P2", "duplicate", "reopened", duplicate=True),
    Case("P2", "open", "documented"),
    Case("P2", "open", "wont_fix"),
    Case("P2", "wont_fix", "fixed", fix_commit=FIX, allowed=False, why="cannot move"),
    Case("P2", "documented", "reopened"),
    Case("P2", "reopened", "fixed", fix_commit=FIX),
    Case("P2", "fixed", "reopened", fix_commit=FIX),
    Case("P2", "fixed", "in_progress", fix_commit=FIX),
]


def _bug_in(case: Case) -> Bug:
    bug = bug_create(title="t", severity=case.severity)
    if case.linked:
        bug_link_test(bug=bug, node_id="tests/test_x.py::test_guard")
    if case.evidence:
        run = make_run(commit_sha=FIX)
        results_store(run=run, parsed=[ParsedResult(node_id="tests/test_x.py::test_guard", outcome="passed", attempts=1)])
    fields: dict[str, object] = {"status": case.start, "fix_commit": case.fix_commit if case.start in ("fixed", "resolved") else ""}
    if case.start == "resolved":
        from bugs.services.status import bug_evidence

        bug.fix_commit = case.fix_commit
        evidence = bug_evidence(bug=bug)
        assert evidence is not None
        fields.update(verified_by=evidence.result, resolved_at=evidence.run.created_at)
    if case.start == "duplicate":
        fields["duplicate_of"] = make_bug()
    Bug.objects.filter(pk=bug.pk).update(**fields)
    return Bug.objects.get(pk=bug.pk)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.severity}-{c.start}-to-{c.to}-{'ok' if c.allowed else 'refused'}")
def test_the_status_rules(case):
    bug = _bug_in(case)
    kwargs: dict[str, Any] = {
        "fix_commit": case.fix_commit or None,
        "duplicate_of": make_bug() if case.duplicate and case.to == "duplicate" else None,
    }
    if case.allowed:
        moved = bug_transition(bug=bug, to_status=case.to, reason="table", **kwargs)
        assert moved.status == case.to
        change = moved.status_changes.all()[0]
        assert (change.from_status, change.to_status, change.reason) == (case.start, case.to, "table")
    else:
        with pytest.raises(StatusRefused, match=case.why):
            bug_transition(bug=bug, to_status=case.to, reason="table", **kwargs)
        assert Bug.objects.get(pk=bug.pk).status == case.start


def test_every_status_has_a_row_in_the_transition_table():
    assert set(ALLOWED_TRANSITIONS) == set(BugStatus.values)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"status": "resolved", "fix_commit": FIX}, "bugs_bug_resolved_needs_evidence"),
        ({"status": "fixed", "fix_commit": ""}, "bugs_bug_fixed_needs_commit"),
        ({"status": "duplicate"}, "bugs_bug_duplicate_iff_target"),
        ({"key": "ISSUE-1"}, "bugs_bug_key_prefix"),
    ],
)
def test_the_database_refuses_what_the_rules_refuse(fields, constraint):
    bug = make_bug()
    with pytest.raises(IntegrityError), transaction.atomic():
        Bug.objects.filter(pk=bug.pk).update(**fields)


def test_the_sla_due_follows_the_editable_policy():
    from bugs.services.bugs import severity_policy_update

    bug = bug_create(title="t", severity="P0")
    assert (bug.sla_due_at - bug.discovered_at).total_seconds() == 24 * 3600
    severity_policy_update(severity="P0", sla_hours=12)
    bug.refresh_from_db()
    assert (bug.sla_due_at - bug.discovered_at).total_seconds() == 12 * 3600
    assert (bug_create(title="u", severity="P3").sla_due_at - bug.discovered_at).days >= 13


def test_a_changed_severity_moves_the_sla():
    from bugs.services.bugs import bug_update

    bug = bug_create(title="t", severity="P3")
    bug = bug_update(bug=bug, severity="P1")
    assert (bug.sla_due_at - bug.discovered_at).total_seconds() == 72 * 3600
