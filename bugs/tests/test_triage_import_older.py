"""Older triage reports, as the origin platform wrote them, read in full (SPEC section 10).

The report lines below are taken from the origin platform's ``bug_triage_report.md`` (see the
header of ``data/triage/phase6_upstream.md`` for the repository and commit); every expected value
is written out by hand, never computed by the reader under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from bugs.models import Bug
from bugs.report import triage_report
from bugs.services.bugs import bug_create
from bugs.services.triage import triage_import

# The import command acts as a named user (ATOM_COMMAND_ACTOR), as every state-changing command does.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("command_actor")]

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _report(*bugs: str, generated: str = "") -> str:
    """A report of the older shape holding the given bug sections, with or without a Generated date."""
    head = ["# Bug Triage Report - Phase 6", ""]
    if generated:
        head += [f"**Generated:** {generated}", ""]
    head += ["---", "", "## P2 Bugs (Medium Priority)", "", ""]
    return "\n".join(head) + "\n\n---\n\n".join(bug.strip("\n") for bug in bugs) + "\n"


def _links(key: str) -> list[str]:
    return sorted(Bug.objects.get(key=key).regression_tests.values_list("node_id", flat=True))


@pytest.mark.regression("BUG-070")
def test_p1_integrity_emoji_statuses_import_as_open_regression():
    """BUG-070 (P1, integrity): statuses that start with an emoji imported as open.

    The older report writes ``✅ FIXED - …``, ``✅ RESOLVED - …`` and ``⚠️ DOCUMENTED - …``; the
    reader looked for the status word at the very start, found the emoji, and left every bug open.
    Fix: the status word is read after any leading symbols, and the note after `` - `` is kept on
    the bug (commit recorded in the catalog).
    """
    report = _report(
        """
### BUG-001: Missing Dependencies (Flask, fastapi, mark)
- **Severity:** P2 - ImportError
- **Fixed:** 3f2a9c1
- **Status:** ✅ FIXED - File renamed to test_github_oauth_server.py.broken
""",
        """
### BUG-002: Coverage Configuration Warnings
- **Severity:** P2 - CoverageWarning (downgraded from P0)
- **Fixed:** 41fa1643
- **Status:** ✅ RESOLVED - Removed partial_branches and precision options from .coveragerc
""",
        """
### BUG-003: Missing Dependencies (mark, more-itertools)
- **Severity:** P2 - ImportError
- **Status:** ⚠️ DOCUMENTED - Test requires mark package
""",
    )
    summary = triage_import(text=report)
    assert summary.created == ["BUG-001", "BUG-002", "BUG-003"]
    assert list(Bug.objects.order_by("key").values_list("key", "status", "fix_commit")) == [
        ("BUG-001", "fixed", "3f2a9c1"),
        ("BUG-002", "fixed", "41fa1643"),
        ("BUG-003", "documented", ""),
    ]
    notes = dict(Bug.objects.values_list("key", "verification_note"))
    assert notes["BUG-001"] == "Report status: ✅ FIXED - File renamed to test_github_oauth_server.py.broken"
    assert notes["BUG-003"] == "Report status: ⚠️ DOCUMENTED - Test requires mark package"
    again = triage_import(text=report)
    assert (again.created, again.updated) == ([], [])


@pytest.mark.regression("BUG-071")
def test_p2_integrity_fix_commit_line_read_as_strategy_regression():
    """BUG-071 (P2, integrity): ``**Fix:** Commit 41fa1643 (…)`` landed in the fix strategy.

    The reader took every ``Fix`` field for a strategy, so the commit was lost, the bug's real fix
    strategy was overwritten, and a bug the report calls fixed could not be fixed for want of a
    commit. Fix: a Fix field that names a commit sets the fix commit; what follows the commit is
    reported as a warning (commit recorded in the catalog).
    """
    report = _report(
        """
### BUG-007: Coverage Configuration Warnings
- **Severity:** P2 - CoverageWarning (downgraded from P0)
- **Fix Strategy:** Update .coveragerc to remove unsupported options
- **Fix:** Commit 41fa1643 (Phase 6 Plan 02, Task 1)
- **Status:** FIXED
"""
    )
    summary = triage_import(text=report)
    bug = Bug.objects.get(key="BUG-007")
    assert (bug.status, bug.fix_commit) == ("fixed", "41fa1643")
    assert bug.fix_strategy == "Update .coveragerc to remove unsupported options"
    assert summary.warnings == ["BUG-007: Fix: '(Phase 6 Plan 02, Task 1)' after the commit is not kept."]


@pytest.mark.regression("BUG-072")
def test_p2_integrity_field_with_empty_first_line_dropped_regression():
    """BUG-072 (P2, integrity): a field whose first line is empty was dropped.

    A fenced code block under ``**Reproduction:**``, a numbered list under ``**Fix Strategy:**`` and
    a bullet list under ``**Tests:**`` all start on the line after the field name; the reader kept
    the indented lines only for a field that already had a value, so all three were lost. Fix: a
    field collects its indented lines whatever its first line holds (commit recorded in the catalog).
    """
    report = _report(
        """
### BUG-005: Security Test Import Errors
- **Severity:** P2 - ImportError/TypeError
- **Tests:**
  - tests/security/test_auth_flows.py
  - tests/security/test_jwt_security.py
- **Reproduction:**
  ```bash
  cd backend && source venv/bin/activate && python -m pytest tests/security/test_auth_flows.py -v
  ```
- **Fix Strategy:**
  1. Fix import paths in security test fixtures
  2. Update mock imports for compatibility
"""
    )
    triage_import(text=report)
    bug = Bug.objects.get(key="BUG-005")
    assert bug.reproduction == (
        "```bash\ncd backend && source venv/bin/activate && python -m pytest tests/security/test_auth_flows.py -v\n```"
    )
    assert bug.fix_strategy == "1. Fix import paths in security test fixtures\n2. Update mock imports for compatibility"
    assert _links("BUG-005") == ["tests/security/test_auth_flows.py", "tests/security/test_jwt_security.py"]


@pytest.mark.regression("BUG-073")
def test_p2_integrity_comma_separated_tests_keep_only_the_first_regression():
    """BUG-073 (P2, integrity): a comma-separated list of tests kept at most the first.

    ``**Tests:** tests/test_browser_agent_ai.py, tests/test_react_loop.py`` was read as its first
    word, comma included, which is no node id: no test was linked, and a P1 bug the report calls
    resolved stayed open. Fix: the list is split on commas outside brackets and every test is
    linked (commit recorded in the catalog).
    """
    report = _report(
        """
### BUG-008: Calculator Script Opening During Tests
- **Severity:** P1 - User Experience
- **Tests:** tests/test_browser_agent_ai.py, tests/test_react_loop.py
- **Fixed:** fe27acd7
- **Status:** FIXED
"""
    )
    summary = triage_import(text=report)
    assert _links("BUG-008") == ["tests/test_browser_agent_ai.py", "tests/test_react_loop.py"]
    assert Bug.objects.get(key="BUG-008").status == "fixed"
    assert summary.warnings == []


@pytest.mark.regression("BUG-074")
def test_p2_integrity_report_sla_and_generated_date_ignored_regression():
    """BUG-074 (P2, integrity): ``**SLA:** Fix by …`` and ``**Generated:**`` were ignored.

    Every imported bug was discovered "now" with a fresh SLA, so a report full of breached bugs
    imported with none breached. Fix: the report's deadline is kept as the SLA due; the discovery
    is the Generated date, or the deadline less the severity's SLA when the report gives only the
    deadline (commit recorded in the catalog).
    """
    bug = """
### BUG-007: Coverage Configuration Warnings
- **Severity:** P2 - CoverageWarning (downgraded from P0)
- **SLA:** Fix by 2026-02-14 18:00
"""
    triage_import(text=_report(bug, generated="2026-02-11"))
    stored = Bug.objects.get(key="BUG-007")
    assert stored.discovered_at == datetime(2026, 2, 11, tzinfo=UTC)
    assert stored.sla_due_at == datetime(2026, 2, 14, 18, 0, tzinfo=UTC)
    assert json.loads(triage_report(fmt="json", now=datetime(2026, 11, 24, tzinfo=UTC)))["sla_breaches"] == ["BUG-007"]

    Bug.objects.all().delete()
    triage_import(text=_report(bug))
    stored = Bug.objects.get(key="BUG-007")
    assert stored.sla_due_at == datetime(2026, 2, 14, 18, 0, tzinfo=UTC)
    assert stored.discovered_at == datetime(2026, 2, 7, 18, 0, tzinfo=UTC)  # seven days (P2) before the deadline


@pytest.mark.regression("BUG-075")
@pytest.mark.parametrize(
    ("word", "category", "kept"),
    [
        ("Test Framework", "infrastructure", "Test Framework"),
        ("Configuration", "infrastructure", "Configuration"),
        ("Data Integrity", "integrity", "Data Integrity"),
        ("Code Quality", "quality", "Code Quality"),
        ("User Experience", "quality", "User Experience"),
        ("Test Behavior", "quality", "Test Behavior"),
        ("Infrastructure", "infrastructure", ""),
        ("Data Loss", "data_loss", ""),
    ],
)
def test_p2_integrity_report_categories_become_quality_regression(word, category, kept):
    """BUG-075 (P2, integrity): categories of the older report became quality without a trace.

    "Test Framework", "Configuration", "Data Integrity" and others are not Atom's category names;
    the reader turned each into quality and forgot the word. Fix: the words map through a
    documented table, and the report's word is kept on the bug when it differs from the category
    (commit recorded in the catalog).
    """
    triage_import(text=_report(f"### BUG-001: Some bug\n- **Severity:** P2\n- **Category:** {word}\n"))
    bug = Bug.objects.get(key="BUG-001")
    assert bug.category == category
    assert bug.reported_category == kept


@pytest.mark.regression("BUG-076")
def test_p1_integrity_report_bug_merged_into_another_with_the_same_key_regression():
    """BUG-076 (P1, integrity): a report bug was merged into a different bug that had its key.

    Keys are numbered per project, so another team's report names its own BUG-001; the import
    overwrote this catalog's BUG-001 with the other bug's title, fields and status. Fix: a report
    bug whose key exists with a different title is refused with a warning and changes nothing
    (commit recorded in the catalog).
    """
    bug_create(key="BUG-001", title="Unsigned tokens accepted", severity="P0", category="security", root_cause="alg from the header")
    report = _report(
        """
### BUG-001: Missing Dependencies (Flask, fastapi, mark)
- **Severity:** P2 - ImportError
- **Category:** Infrastructure
- **Root Cause:** test_github_oauth_server.py imports flask but flask is not installed in venv
- **Status:** ⚠️ DOCUMENTED - Test requires mark package
"""
    )
    summary = triage_import(text=report)
    bug = Bug.objects.get(key="BUG-001")
    assert (bug.title, bug.severity, bug.category, bug.status, bug.root_cause) == (
        "Unsigned tokens accepted", "P0", "security", "open", "alg from the header"
    )  # fmt: skip
    assert summary.updated == []
    assert summary.warnings == [
        "BUG-001: refused: here it is 'Unsigned tokens accepted', the report's is 'Missing Dependencies (Flask, fastapi, mark)';"
        " nothing imported."
    ]


@pytest.mark.regression("BUG-077")
def test_p2_integrity_fields_not_understood_dropped_silently_regression():
    """BUG-077 (P2, integrity): what the reader did not understand was dropped without a word.

    The older report describes a bug under ``**Issue:**``, which the reader did not know, so the
    description was lost; an unknown field, a stray line or a test list entry that is no test
    vanished the same way. Fix: Issue is read as the description, and anything else not understood
    gives a warning naming the bug and the field (commit recorded in the catalog).
    """
    report = _report(
        """
### BUG-009: Low Assertion Density (0.054)
- **Severity:** P2 - Quality
- **Tests:** All tests
- **Issue:** Test files have very low assertion density (0.05 assertions per line vs 0.15 target)
- **Impact:** Reviews miss weak tests
A line that belongs to no field
"""
    )
    summary = triage_import(text=report)
    bug = Bug.objects.get(key="BUG-009")
    assert bug.description == "Test files have very low assertion density (0.05 assertions per line vs 0.15 target)"
    assert summary.warnings == [
        "BUG-009: Tests: 'All tests' is not a test; not linked.",
        "BUG-009: Impact: not a field of a bug; not imported.",
        "BUG-009: line 'A line that belongs to no field' is not a field; not imported.",
    ]


def test_a_p0_claimed_resolved_without_a_linked_test_stays_open_with_a_warning():
    report = _report(
        """
### BUG-001: Missing Dependencies (Flask, fastapi, mark)
- **Severity:** P0 - ImportError
- **Fix:** Commit 41fa1643
- **Status:** ✅ RESOLVED - Removed partial_branches and precision options from .coveragerc
"""
    )
    summary = triage_import(text=report)
    bug = Bug.objects.get(key="BUG-001")
    assert (bug.status, bug.fix_commit) == ("open", "41fa1643")
    assert summary.warnings == ["BUG-001: Status: stays open: A P0 bug cannot be closed as fixed without a linked regression test."]


@pytest.mark.regression("BUG-079")
def test_p3_integrity_byte_order_mark_hides_the_first_bug_regression(tmp_path, capsys):
    """BUG-079 (P3, integrity): a report that starts with a byte-order mark lost its first bug.

    Editors on Windows save UTF-8 with a byte-order mark; the mark stuck to the first line, so a
    report starting with its first ``### BUG-…`` heading was read without that bug, silently.
    Fix: the reader ignores a byte-order mark at the start of the text (commit recorded in the catalog).
    """
    path = tmp_path / "report.md"
    path.write_text("### BUG-001: First\n- **Severity:** P2\n\n### BUG-002: Second\n- **Severity:** P3\n", encoding="utf-8-sig")
    call_command("import_triage", str(path))
    assert capsys.readouterr().out == "2 created, 0 updated, 0 unchanged, 0 refused.\n"
    assert list(Bug.objects.order_by("key").values_list("key", flat=True)) == ["BUG-001", "BUG-002"]
