"""The origin platform's own triage report, every case of the older shape together (SPEC section 10).

``data/triage/phase6_upstream.md`` is that report, trimmed (its header names the repository and
commit). Every expected value below is written by hand from the report's text, never computed by
the reader under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bugs.models import Bug
from bugs.report import triage_report
from bugs.services.triage import triage_import

# The import command acts as a named user (ATOM_COMMAND_ACTOR), as every state-changing command does.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("command_actor")]

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _links(key: str) -> list[str]:
    return sorted(Bug.objects.get(key=key).regression_tests.values_list("node_id", flat=True))


ORIGIN_REPORT = Path(__file__).parent / "data" / "triage" / "phase6_upstream.md"
GENERATED = datetime(2026, 2, 11, tzinfo=UTC)


def _at(day: int, hour: int = 18) -> datetime:
    return datetime(2026, 2, day, hour, 0, tzinfo=UTC)


# key: severity, category, reported category, status, fix commit, linked tests, SLA due (all by hand).
ORIGIN_BUGS = {
    "BUG-001": ("P0", "infrastructure", "", "open", "", ["tests/test_github_oauth_server.py"], _at(12)),
    "BUG-002": ("P0", "infrastructure", "", "documented", "", ["tests/test_manual_registration.py"], _at(12)),
    "BUG-004": ("P0", "infrastructure", "Test Framework", "documented", "", [
        "tests/property_tests/analytics/test_analytics_invariants.py",
        "tests/property_tests/api/test_api_contracts.py",
        "tests/property_tests/contracts/test_action_complexity.py",
        "tests/property_tests/data_validation/test_data_validation_invariants.py",
    ], _at(12)),
    "BUG-005": ("P0", "infrastructure", "Test Framework", "documented", "", [
        "tests/security/test_auth_flows.py", "tests/security/test_jwt_security.py",
    ], _at(12)),
    "BUG-007": ("P2", "infrastructure", "Configuration", "fixed", "41fa1643", [], _at(14)),
    "BUG-008": ("P1", "quality", "Test Behavior", "fixed", "fe27acd7", [
        "tests/test_browser_agent_ai.py",
        "tests/test_p1_regression.py::TestP1CalculatorUIRegression",
        "tests/test_react_loop.py",
    ], _at(13)),
    "BUG-009": ("P1", "quality", "Code Quality", "documented", "", [
        "tests/test_p1_regression.py::TestP1AssertionDensity",
        "tests/test_supervision_learning_integration.py",
        "tests/test_user_management_monitoring.py",
    ], _at(13)),
    "BUG-010": ("P2", "quality", "", "documented", "", [], _at(18)),
    "BUG-011": ("P2", "quality", "Code Quality", "documented", "", [], _at(14)),
    "BUG-012": ("P3", "integrity", "Data Integrity", "open", "", [
        "tests/test_episode_merge.py::test_count_after_failed_merge",
    ], _at(25, 0)),  # no SLA line: fourteen days (P3) after the Generated date
    "BUG-013": ("P3", "quality", "User Experience", "documented", "", [], _at(25)),
}  # fmt: skip

ORIGIN_WARNINGS = [
    "BUG-001: Status: stays open: A bug is fixed by a commit: give the fix commit.",
    "BUG-004: Tests: 'Multiple property tests failing with TypeError' is not a test; not linked.",
    "BUG-004: Tests: '(multiple)' is not a test; not linked.",
    "BUG-004: Tests: 'tests/property_tests/episodes/test_episode_*.py' is not a pytest node id; not linked.",
    "BUG-007: Tests: 'All tests' is not a test; not linked.",
    "BUG-007: Fix: '(Phase 6 Plan 02, Task 1)' after the commit is not kept.",
    "BUG-008: Fix: '(Phase 6 Plan 01)' after the commit is not kept.",
    "BUG-009: Tests: '(0.054)' is not a test; not linked.",
    "BUG-009: Tests: '(0.042)' is not a test; not linked.",
    "BUG-011: Tests: 'All tests' is not a test; not linked.",
]


def test_the_origin_report_imports_in_full():
    summary = triage_import(text=ORIGIN_REPORT.read_text(encoding="utf-8"))
    assert summary.created == list(ORIGIN_BUGS)
    assert summary.warnings == ORIGIN_WARNINGS
    for key, (severity, category, reported, status, commit, tests, due) in ORIGIN_BUGS.items():
        bug = Bug.objects.get(key=key)
        assert (bug.severity, bug.category, bug.reported_category, bug.status, bug.fix_commit) == (
            severity, category, reported, status, commit
        ), key  # fmt: skip
        assert _links(key) == tests, key
        assert (bug.discovered_at, bug.sla_due_at) == (GENERATED, due), key


def test_the_origin_report_keeps_multi_line_fields_notes_and_descriptions():
    triage_import(text=ORIGIN_REPORT.read_text(encoding="utf-8"))
    first = Bug.objects.get(key="BUG-001")
    assert first.title == "Missing Dependencies (Flask, fastapi, mark)"
    assert first.actual == "`ModuleNotFoundError: No module named 'flask'`"
    assert first.reproduction == (
        "```bash\ncd backend && source venv/bin/activate && python -m pytest tests/test_github_oauth_server.py -v\n```"
    )
    assert first.fix_strategy == (
        "1. Rename file to .broken to prevent collection\n2. Document flask as optional dependency for GitHub OAuth tests"
    )
    assert first.verification_note == "Report status: ✅ FIXED - File renamed to test_github_oauth_server.py.broken"
    seventh = Bug.objects.get(key="BUG-007")
    assert seventh.verification_note == (
        "`pytest tests/ -v` no longer shows CoverageWarning for unsupported options\n\n"
        "Report status: ✅ RESOLVED - Removed partial_branches and precision options from .coveragerc"
    )
    assert Bug.objects.get(key="BUG-011").actual == (
        "Multiple deprecation warnings for:\n- `max_items` (Pydantic)\n- `extra` keyword arguments (Pydantic)\n- `on_event` (FastAPI)"
    )
    assert Bug.objects.get(key="BUG-012").description == "The episode counter is incremented before the merge commits"
    assert Bug.objects.get(key="BUG-008").description.startswith('Tests execute `model.interpret_command("Open calculator")`')


def test_the_origin_report_imports_idempotently():
    text = ORIGIN_REPORT.read_text(encoding="utf-8")
    triage_import(text=text)
    before = list(Bug.objects.order_by("key").values())
    history = sum(bug.status_changes.count() for bug in Bug.objects.all())
    again = triage_import(text=text)
    assert (again.created, again.updated, again.unchanged) == ([], [], list(ORIGIN_BUGS))
    assert list(Bug.objects.order_by("key").values()) == before
    assert sum(bug.status_changes.count() for bug in Bug.objects.all()) == history


def test_legacy_bugs_reimport_unchanged_after_an_export():
    triage_import(text=ORIGIN_REPORT.read_text(encoding="utf-8"))
    exported = triage_report(now=NOW)
    assert "- **Category:** infrastructure (Test Framework)" in exported
    summary = triage_import(text=exported)
    assert summary.updated == []
    Bug.objects.all().delete()
    triage_import(text=exported)
    assert triage_report(now=NOW) == exported


def test_import_triage_prints_each_warning_and_the_summary(capsys):
    call_command("import_triage", str(ORIGIN_REPORT))
    captured = capsys.readouterr()
    assert captured.out == "11 created, 0 updated, 0 unchanged, 0 refused.\n"
    assert [line for line in captured.err.splitlines() if line.startswith("warning: ")] == [
        f"warning: {warning}" for warning in ORIGIN_WARNINGS
    ]


@pytest.mark.parametrize("content", [b"\xff\xfe# not UTF-8 \xe9", None], ids=["not-utf8", "a-directory"])
def test_import_triage_exits_with_one_line_on_unreadable_input(tmp_path, content):
    path = tmp_path / "report.md"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(CommandError) as raised:
        call_command("import_triage", str(path))
    assert str(raised.value).startswith(f"Cannot read {path}: ")
    assert "\n" not in str(raised.value)
    assert not Bug.objects.exists()
