"""The triage report (Markdown, JSON, CSV from one function), its import, and its query counts."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from bugs.models import Bug, RegressionTest
from bugs.parsers import ParsedResult
from bugs.report import TriageFilters, triage_parse, triage_report
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.results import results_store
from bugs.services.status import bug_transition
from bugs.services.triage import triage_import
from bugs.tests.factories import make_regression_test, make_result, make_run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("command_actor")]

SEED_REPORT = Path(__file__).parent / "data" / "bug_triage_report_seed.md"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _catalog() -> None:
    old = NOW - timedelta(days=4)
    guard = bug_create(key="BUG-001", title="Unsigned tokens accepted", severity="P0", category="security", discovered_at=old,
                       root_cause="alg from the header", reproduction="line one\n\nline three", actual="accepted")  # fmt: skip
    bug_link_test(bug=guard, node_id="tests/test_auth.py::test_alg_none")
    bug_transition(bug=guard, to_status="fixed", fix_commit="abc1234", reason="fix")
    run = make_run(commit_sha="abc1234" + "0" * 33, status="running")
    results_store(run=run, parsed=[ParsedResult(node_id="tests/test_auth.py::test_alg_none", outcome="passed", attempts=1)])
    from bugs.services.results import run_finalize

    run_finalize(run_id=run.pk)
    bug_create(key="BUG-002", title="Retry storm", severity="P1", category="cost_leak", discovered_at=old)
    bug_create(key="BUG-003", title="Slow list", severity="P3", discovered_at=old)


def test_the_markdown_report_has_every_section_and_field():
    _catalog()
    text = triage_report(now=NOW)
    assert text.startswith("# Bug Triage Report\n\nGenerated: 2026-11-24T12:00:00Z\nSuite: atom — run #")
    assert "| P0 | 1 | 0 | 24 h | 0 |" in text
    assert "| P1 | 1 | 1 | 3 d | 1 |" in text
    assert "| P3 | 1 | 1 | 14 d | 0 |" in text
    assert "### BUG-001: Unsigned tokens accepted" in text
    assert "- **Status:** RESOLVED (abc1234)" in text
    assert "- **Regression test:** `tests/test_auth.py::test_alg_none` — passed (run #" in text
    for section in ("## SLA breaches", "## New regressions", "## Flaky tests", "## Missing a regression test", "## Missing a fix commit"):
        assert section in text
    assert "- BUG-002 (P1): due " in text.split("## SLA breaches")[1]
    # P0 bugs come first, P3 last.
    assert text.index("### BUG-001") < text.index("### BUG-002") < text.index("### BUG-003")


def test_json_and_csv_carry_the_same_bugs():
    _catalog()
    document = json.loads(triage_report(fmt="json", now=NOW))
    assert [b["key"] for b in document["bugs"]] == ["BUG-001", "BUG-002", "BUG-003"]
    assert document["sla_breaches"] == ["BUG-002"]
    assert document["suite"]["passed"] == 1
    rows = list(csv.DictReader(io.StringIO(triage_report(fmt="csv", now=NOW))))
    assert [r["key"] for r in rows] == ["BUG-001", "BUG-002", "BUG-003"]
    assert rows[0]["latest_results"] == "passed"


def test_csv_cells_cannot_become_spreadsheet_formulas():
    bug_create(key="BUG-009", title='=HYPERLINK("http://evil")', severity="P3")
    assert "'=HYPERLINK" in triage_report(fmt="csv")


def test_filters_narrow_the_report():
    _catalog()
    text = triage_report(filters=TriageFilters(severities=("P1",)), now=NOW)
    assert "### BUG-002" in text
    assert "### BUG-001" not in text


@pytest.mark.parametrize("bugs", [1, 30])
def test_the_report_costs_the_same_queries_for_any_number_of_bugs(bugs, django_assert_num_queries):
    run = make_run(status="passed")
    for _ in range(bugs):
        link = make_regression_test()
        result = make_result(run=run, node_id=link.node_id)
        RegressionTest.objects.filter(pk=link.pk).update(last_result=result)
    with django_assert_num_queries(4):
        triage_report(fmt="markdown")


def test_the_seed_shaped_report_imports_into_bugs_idempotently():
    summary = triage_import(text=SEED_REPORT.read_text())
    assert summary.created == ["BUG-001", "BUG-002", "BUG-003", "BUG-004", "BUG-005"]
    first = Bug.objects.get(key="BUG-001")
    assert (first.severity, first.category, first.fix_commit, first.status) == ("P0", "security", "3f2a9c1", "fixed")
    assert first.regression_tests.get().node_id == "tests/test_p0_security_regression.py::test_p0_security_jwt_alg_none_regression"
    assert Bug.objects.get(key="BUG-002").category == "data_loss"
    assert Bug.objects.get(key="BUG-002").severity == "P0"
    assert Bug.objects.get(key="BUG-003").category == "cost_leak"
    assert Bug.objects.get(key="BUG-003").status == "open"
    assert Bug.objects.get(key="BUG-004").severity == "P1"
    assert Bug.objects.get(key="BUG-005").status == "documented"
    history = Bug.objects.get(key="BUG-001").status_changes.count()
    again = triage_import(text=SEED_REPORT.read_text())
    assert again.created == []
    assert again.updated == []
    assert Bug.objects.get(key="BUG-001").status_changes.count() == history


def test_export_import_export_is_stable():
    _catalog()
    first = triage_report(now=NOW)
    summary = triage_import(text=first)
    assert summary.updated == []
    assert summary.created == []
    assert triage_report(now=NOW) == first


def test_an_exported_report_rebuilds_the_same_bugs_in_an_empty_catalog():
    bug_create(key="BUG-010", title="Multi\u2011line", severity="P2", category="integrity", discovered_at=NOW - timedelta(days=1),
               description="first\n\n  indented\nlast", root_cause="because")  # fmt: skip
    dup = bug_create(key="BUG-011", title="Same thing", severity="P3", discovered_at=NOW)
    bug_transition(bug=dup, to_status="duplicate", duplicate_of=Bug.objects.get(key="BUG-010"), reason="dup")
    exported = triage_report(now=NOW)
    Bug.objects.filter(status="duplicate").delete()
    Bug.objects.all().delete()
    triage_import(text=exported)
    assert triage_report(now=NOW) == exported


def test_parse_reads_fields_of_both_shapes():
    parsed = {b.key: b for b in triage_parse(SEED_REPORT.read_text())}
    assert parsed["BUG-001"].status == "resolved"
    assert parsed["BUG-001"].fields["fix_commit"] == "3f2a9c1"
    assert parsed["BUG-003"].fields["fix_strategy"].startswith("Exponential backoff")


def test_export_triage_command_prints_the_same_report(capsys, tmp_path):
    _catalog()
    call_command("export_triage", "--format", "json", "--severity", "P0")
    printed = json.loads(capsys.readouterr().out)
    assert [b["key"] for b in printed["bugs"]] == ["BUG-001"]
    target = tmp_path / "report.md"
    call_command("export_triage", "--output", str(target))
    assert target.read_text().startswith("# Bug Triage Report")


def test_import_triage_command_reads_a_file(capsys):
    call_command("import_triage", str(SEED_REPORT))
    assert "5 created" in capsys.readouterr().out


def test_import_triage_command_fails_clearly_on_a_missing_file():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_triage", "/nonexistent/report.md")


@pytest.mark.regression("BUG-034")
def test_p2_integrity_title_newline_invents_bug_on_round_trip_regression(staff_user, client_for):
    """BUG-034 (P2, integrity): a newline in a bug title invented a bug on export and import.

    The API accepted a title with newlines and the Markdown report wrote it unescaped in the
    ``### KEY: title`` heading, so importing the export created the phantom BUG-999 and lost BUG-001.
    Fix: titles with control characters are refused, and the export writes a title on one line with
    its whitespace collapsed (commit recorded in the catalog).
    """
    title = "Login broken\n### BUG-999: Injected phantom\n- **Severity:** P0"
    client = client_for(staff_user)
    response = client.post("/api/v1/bugs/", {"key": "BUG-001", "title": title, "severity": "P2"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "title" in response.json()["error"]["details"]
    assert not Bug.objects.exists()

    bug_create(key="BUG-001", title="Login broken", severity="P2", discovered_at=NOW)
    response = client.patch("/api/v1/bugs/BUG-001/", {"title": "Login\tbroken\r\nagain"}, format="json")
    assert response.status_code == 400, response.content
    assert "title" in response.json()["error"]["details"]
    assert Bug.objects.get().title == "Login broken"

    # A title stored before the rule existed is exported as one heading line.
    Bug.objects.filter(key="BUG-001").update(title=title)
    exported = triage_report(now=NOW)
    Bug.objects.all().delete()
    triage_import(text=exported)
    assert list(Bug.objects.values_list("key", "title", "severity")) == [
        ("BUG-001", "Login broken ### BUG-999: Injected phantom - **Severity:** P0", "P2")
    ]


@pytest.mark.regression("BUG-042")
@pytest.mark.parametrize(
    ("field", "reason"),
    [("- **Discovered:** 2024-13-45T00:00:00Z", "Discovered"), ("- **Component:** " + "c" * 300, "component")],
    ids=["impossible-date", "component-too-long"],
)
def test_p3_crash_import_triage_traceback_on_bad_field_regression(tmp_path, field, reason):
    """BUG-042 (P3, crash): import_triage ended with a traceback on a field it could not store.

    An impossible date (``2024-13-45T00:00:00Z``) raised ValueError while the report was parsed, and a
    300-character component raised ValidationError while the bug was created. Fix: both are refused as
    an invalid report naming the bug and the field; the command exits with that one-line reason
    (CommandError) and imports nothing (commit recorded in the catalog).
    """
    from django.core.management.base import CommandError

    path = tmp_path / "report.md"
    path.write_text(
        "\n".join(["## Bugs", "", "### BUG-001: Good", "- **Severity:** P2", "", "### BUG-002: Bad", "- **Severity:** P2", field, ""])
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_triage", str(path))
    message = str(raised.value)
    assert "BUG-002" in message
    assert reason in message
    assert "\n" not in message
    assert not Bug.objects.exists()


@pytest.mark.regression("BUG-043")
@pytest.mark.parametrize("commit", ["abc1", "abc12", "abc123"])
def test_p3_integrity_short_fix_commit_lost_on_round_trip_regression(commit):
    """BUG-043 (P3, integrity): the report round trip dropped fix commits of 4 to 6 hex characters.

    The API accepts a fix commit of 4 to 64 hex characters, but the import read only 7 or more, so a
    fixed bug with a short commit came back open without its commit. Fix: a Fix commit field that is
    a 4 to 6 character hash as a whole is read as the commit (commit recorded in the catalog).
    """
    bug = bug_create(key="BUG-001", title="Short hash", severity="P3", discovered_at=NOW)
    bug_transition(bug=bug, to_status="fixed", fix_commit=commit, reason="fix")
    exported = triage_report(now=NOW)
    Bug.objects.all().delete()
    summary = triage_import(text=exported)
    assert summary.warnings == []
    assert list(Bug.objects.values_list("key", "status", "fix_commit")) == [("BUG-001", "fixed", commit)]
    assert triage_report(now=NOW) == exported


@pytest.mark.regression("BUG-044")
def test_p3_integrity_reimporting_own_export_changes_nothing_regression():
    """BUG-044 (P3, integrity): importing Atom's own export into the same database changed the bugs.

    The report writes times to the second, so every bug discovered at a time with microseconds (any
    bug created through the API) read as rediscovered: the import updated discovered_at and moved the
    SLA due date with it. Fix: the import compares discovered_at at the report's precision (commit
    recorded in the catalog).
    """
    bug = bug_create(key="BUG-001", title="Created through the API", severity="P2", discovered_at=NOW.replace(microsecond=522528))
    before = Bug.objects.values("discovered_at", "sla_due_at").get(pk=bug.pk)

    summary = triage_import(text=triage_report(fmt="markdown"))

    assert summary.updated == []
    assert summary.unchanged == ["BUG-001"]
    assert Bug.objects.values("discovered_at", "sla_due_at").get(pk=bug.pk) == before


@pytest.mark.regression("BUG-053")
def test_p3_crash_import_triage_far_future_discovery_regression(tmp_path):
    """BUG-053 (P3, crash): a Discovered date in year 9999 ended import_triage with a traceback.

    The date parsed, then adding the SLA to it overflowed (OverflowError: date value out of range).
    A bug cannot be discovered in the future anyway. Fix: a discovery date more than a day ahead is
    refused as a field error, so the command exits with one line naming the bug and the field and
    imports nothing (commit recorded in the catalog).
    """
    from django.core.management.base import CommandError

    path = tmp_path / "report.md"
    path.write_text("## Bugs\n\n### BUG-002: From the future\n- **Severity:** P2\n- **Discovered:** 9999-12-31T00:00:00Z\n")
    with pytest.raises(CommandError) as raised:
        call_command("import_triage", str(path))
    message = str(raised.value)
    assert "BUG-002" in message
    assert "discovered_at" in message
    assert "\n" not in message
    assert not Bug.objects.exists()


@pytest.mark.regression("BUG-055")
def test_p3_integrity_upper_case_fix_commit_round_trip_regression(staff_user, client_for):
    """BUG-055 (P3, integrity): a fix commit given in upper case came back lower-cased from the report.

    The API stored the commit as given, while the Markdown import lower-cased it, so an export and an
    import into an empty table changed the stored commit. Git hashes are case-insensitive. Fix: every
    path stores commits lower-cased (commit recorded in the catalog).
    """
    client = client_for(staff_user)
    assert client.post("/api/v1/bugs/", {"key": "BUG-001", "title": "Upper", "severity": "P3"}, format="json").status_code == 201
    patched = client.patch("/api/v1/bugs/BUG-001/", {"status": "fixed", "fix_commit": "ABC1234"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["fix_commit"] == "abc1234"
    exported = triage_report(fmt="markdown")
    Bug.objects.all().delete()
    triage_import(text=exported)
    assert Bug.objects.values_list("status", "fix_commit").get() == ("fixed", "abc1234")
