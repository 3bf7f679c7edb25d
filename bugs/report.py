"""The triage report of SPEC section 6: one function renders it as Markdown, JSON or CSV.

The admin's download, ``GET triage-report/`` and ``manage.py export_triage`` all call
:func:`triage_report`. :func:`triage_parse` (in :mod:`bugs.report_parse`) reads the Markdown back
(this shape and the origin platform's older ``bug_triage_report.md`` shape) for ``import_triage``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bugs.models import ACTIVE_STATUSES, BugStatus, Severity
from bugs.report_markdown import EMPTY, code_span, one_line
from bugs.report_parse import ParsedBug, TriageFormatError, triage_parse
from bugs.selectors import TriageData, triage_data

# The reader lives in bugs.report_parse; its public names are reached from here too.
__all__ = ["FORMATS", "ParsedBug", "TriageFilters", "TriageFormatError", "status_label", "triage_parse", "triage_report"]

FORMATS = ("markdown", "json", "csv")
CONTENT_TYPES = {"markdown": "text/markdown; charset=utf-8", "json": "application/json", "csv": "text/csv; charset=utf-8"}
EXTENSIONS = {"markdown": "md", "json": "json", "csv": "csv"}
CLOSED_STATUSES = (BugStatus.DUPLICATE, BugStatus.WONT_FIX, BugStatus.DOCUMENTED)


@dataclass(frozen=True)
class TriageFilters:
    """Which bugs the report covers (empty means all)."""

    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    project: str = ""  # a project's slug; empty: every project


def triage_report(*, fmt: str = "markdown", filters: TriageFilters | None = None, now: datetime | None = None) -> str:
    """The triage report in one of FORMATS; the same data and order whatever the format."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    filters = filters or TriageFilters()
    data = triage_data(severities=filters.severities, statuses=filters.statuses, keys=filters.keys, project=filters.project, now=now)
    document = _document(data)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(document)
    return _markdown(document)


# --- one document, three renderings -------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def status_label(*, status: str, fix_commit: str, duplicate_of: str | None) -> str:
    """RESOLVED (abc1234), OPEN, REOPENED, DUPLICATE (of BUG-002)…"""
    label = status.upper().replace("_", " ")
    if status in (BugStatus.RESOLVED, BugStatus.FIXED) and fix_commit:
        return f"{label} ({fix_commit[:12]})"
    if status == BugStatus.DUPLICATE and duplicate_of:
        return f"{label} (of {duplicate_of})"
    return label


def _test_entry(link: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "node_id": link["node_id"],
        "flaky": link["is_flaky"],
        "quarantined": link["quarantined"],
        "latest_result": None,
        "proof": {
            "verdict": link.get("proof_verdict", "unproven"),
            "detail": link.get("proof_detail", ""),
            "parent": (link.get("proof_parent") or "")[:12],
            "fix": (link.get("proof_fix") or "")[:12],
        },
    }
    if link["last_result__outcome"] is not None:
        entry["latest_result"] = {
            "outcome": link["last_result__outcome"],
            "run": link["last_result__run_id"],
            "commit": (link["last_result__run__commit_sha"] or "")[:12],
            "finished_at": _iso(link["last_result__run__finished_at"]),
            "message": (link["last_result__message"] or "")[:300],
        }
    return entry


def _bug_entry(bug: dict[str, Any], tests: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "key": bug["key"],
        "title": bug["title"],
        "severity": bug["severity"],
        "status": bug["status"],
        "status_label": status_label(status=bug["status"], fix_commit=bug["fix_commit"], duplicate_of=bug["duplicate_of__key"]),
        "category": bug["category"],
        "reported_category": bug["reported_category"],
        "component": bug["component"],
        "discovered_at": _iso(bug["discovered_at"]),
        "sla_due_at": _iso(bug["sla_due_at"]),
        "sla_breached": bug["status"] in ACTIVE_STATUSES and bug["sla_due_at"] < now,
        "description": bug["description"],
        "error": bug["actual"],
        "expected": bug["expected"],
        "root_cause": bug["root_cause"],
        "reproduction": bug["reproduction"],
        "fix_strategy": bug["fix_strategy"],
        "fix_commit": bug["fix_commit"],
        "verification": bug["verification_note"],
        "is_regression": bug["is_regression"],
        "duplicate_of": bug["duplicate_of__key"] or "",
        "tests": [_test_entry(link) for link in tests],
    }


def _document(data: TriageData) -> dict[str, Any]:
    now = data.generated_at
    bugs = [_bug_entry(bug, data.tests_by_bug.get(bug["pk"], []), now) for bug in data.bugs]
    severities = []
    for severity in Severity.values:
        of = [b for b in bugs if b["severity"] == severity]
        severities.append(
            {
                "severity": severity,
                "count": len(of),
                "open": sum(1 for b in of if b["status"] in ACTIVE_STATUSES),
                "sla_hours": data.sla_hours[severity],
                "breaches": sum(1 for b in of if b["sla_breached"]),
            }
        )
    run = data.latest_run
    suite = None
    if run is not None:
        suite = {
            "name": run.suite.name,
            "run": run.pk,
            "status": run.status,
            "commit": run.commit_sha[:12],
            "branch": run.branch,
            "tests": run.total,
            "passed": run.passed,
            "failed": run.failed + run.errors,
            "duration_seconds": round(run.duration_seconds or 0.0, 2),
        }
    live = [b for b in bugs if b["status"] not in CLOSED_STATUSES]
    flaky: dict[str, list[str]] = {}
    quarantined: dict[str, list[str]] = {}
    for b in bugs:
        for t in b["tests"]:
            if t["flaky"]:
                flaky.setdefault(t["node_id"], []).append(b["key"])
            if t["quarantined"]:
                quarantined.setdefault(t["node_id"], []).append(b["key"])
    return {
        "generated_at": _iso(now),
        "filters": data.filters,
        "suite": suite,
        "severities": severities,
        "bugs": bugs,
        "sla_breaches": [b["key"] for b in bugs if b["sla_breached"]],
        "new_regressions": [b["key"] for b in bugs if b["is_regression"] and b["status"] == BugStatus.REOPENED],
        "flaky_tests": [{"node_id": n, "bugs": keys} for n, keys in sorted(flaky.items())],
        "quarantined_tests": [{"node_id": n, "bugs": keys} for n, keys in sorted(quarantined.items())],
        "tests_not_catching": [
            {"node_id": t["node_id"], "bug": b["key"], "detail": t["proof"]["detail"]}
            for b in bugs
            for t in b["tests"]
            if t["proof"]["verdict"] == "no"
        ],
        "missing_regression_test": [b["key"] for b in live if not b["tests"]],
        "missing_fix_commit": [b["key"] for b in live if not b["fix_commit"]],
    }


def _hours(hours: int) -> str:
    return f"{hours // 24} d" if hours % 24 == 0 and hours >= 48 else f"{hours} h"


def _field(name: str, value: str) -> str:
    """One ``- **Name:** value`` line; further lines of the value are indented so they stay inside it."""
    text = value.strip().replace("\r\n", "\n") or EMPTY
    first, *rest = text.split("\n")
    return "\n".join([f"- **{name}:** {first}", *(f"  {line}" if line.strip() else "" for line in rest)])


def _result_text(test: dict[str, Any]) -> str:
    result = test["latest_result"]
    flaky = " (flaky)" if test["flaky"] else ""
    if result is None:
        return f"{code_span(test['node_id'])} — not run yet{flaky}"
    commit = f" at {result['commit']}" if result["commit"] else ""
    return f"{code_span(test['node_id'])} — {result['outcome']} (run #{result['run']}{commit}){flaky}"


def _markdown(doc: dict[str, Any]) -> str:
    out = ["# Bug Triage Report", "", f"Generated: {doc['generated_at']}"]
    if doc["filters"]:
        out.append("Filters: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in doc["filters"].items()))
    suite = doc["suite"]
    if suite:
        where = f" at {suite['commit']}" if suite["commit"] else ""
        branch = f" ({suite['branch']})" if suite["branch"] else ""
        out.append(
            f"Suite: {suite['name']} — run #{suite['run']}{where}{branch}, {suite['status']}: {suite['tests']} tests, "
            f"{suite['passed']} passed, {suite['failed']} failed, {suite['duration_seconds']:.2f} s"
        )
    else:
        out.append("Suite: no finished run yet")
    out += ["", "## Severity summary", "", "| Severity | Count | Open | SLA | Breaches |", "|---|---:|---:|---|---:|"]
    for s in doc["severities"]:
        out.append(f"| {s['severity']} | {s['count']} | {s['open']} | {_hours(s['sla_hours'])} | {s['breaches']} |")
    out += ["", "## Bugs"]
    for b in doc["bugs"]:
        sla = b["sla_due_at"] + (" (BREACHED)" if b["sla_breached"] else "")
        tests = ", ".join(code_span(t["node_id"]) for t in b["tests"])
        lines = [
            "",
            f"### {b['key']}: {one_line(b['title'])}",
            "",
            _field("Severity", b["severity"]),
            _field("Discovered", b["discovered_at"]),
            _field("SLA due", sla),
            _field("Category", b["category"] + (f" ({b['reported_category']})" if b["reported_category"] else "")),
            _field("Component", b["component"]),
            _field("Tests", tests),
            _field("Description", b["description"]),
            _field("Error", b["error"]),
            _field("Expected", b["expected"]),
            _field("Root cause", b["root_cause"]),
            _field("Reproduction", b["reproduction"]),
            _field("Fix strategy", b["fix_strategy"]),
            _field("Fix commit", b["fix_commit"]),
            _field("Regression test", "; ".join(_result_text(t) for t in b["tests"]) or "MISSING"),
            _field("Verification", b["verification"]),
            _field("Status", b["status_label"] + (" — regression" if b["is_regression"] and b["status"] == BugStatus.REOPENED else "")),
        ]
        out += lines
    by_key = {b["key"]: b for b in doc["bugs"]}
    out += ["", "## SLA breaches", ""]
    out += [
        f"- {k} ({by_key[k]['severity']}): due {by_key[k]['sla_due_at']}, {by_key[k]['status_label']}" for k in doc["sla_breaches"]
    ] or ["None."]
    out += ["", "## New regressions", ""]
    out += [f"- {k}: {one_line(by_key[k]['title'])}" for k in doc["new_regressions"]] or ["None."]
    out += ["", "## Flaky tests", ""]
    out += [f"- {code_span(f['node_id'])} ({', '.join(f['bugs'])})" for f in doc["flaky_tests"]] or ["None."]
    out += ["", "## Quarantined tests (they run, but never resolve or reopen a bug)", ""]
    out += [f"- {code_span(q['node_id'])} ({', '.join(q['bugs'])})" for q in doc["quarantined_tests"]] or ["None."]
    out += ["", "## Tests that do not catch their bug (they pass at the parent of the fix)", ""]
    out += [f"- {code_span(t['node_id'])} ({t['bug']}): {one_line(t['detail'])}" for t in doc["tests_not_catching"]] or ["None."]
    out += ["", "## Missing a regression test", ""]
    out += [f"- {k} ({by_key[k]['severity']}): {one_line(by_key[k]['title'])}" for k in doc["missing_regression_test"]] or ["None."]
    out += ["", "## Missing a fix commit", ""]
    out += [f"- {k} ({by_key[k]['severity']}): {by_key[k]['status_label']}" for k in doc["missing_fix_commit"]] or ["None."]
    return "\n".join(out) + "\n"


_CSV_COLUMNS = [
    "key", "title", "severity", "status", "category", "reported_category", "component", "discovered_at", "sla_due_at", "sla_breached",
    "fix_commit", "tests", "latest_results", "flaky", "is_regression", "duplicate_of", "error", "root_cause",
    "reproduction", "fix_strategy", "verification",
]  # fmt: skip


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet; quote it as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(doc: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for b in doc["bugs"]:
        row = dict(b)
        row["tests"] = " ".join(t["node_id"] for t in b["tests"])
        row["latest_results"] = " ".join((t["latest_result"] or {}).get("outcome", "none") for t in b["tests"])
        row["flaky"] = any(t["flaky"] for t in b["tests"])
        writer.writerow([_csv_cell(row[c]) for c in _CSV_COLUMNS])
    return buffer.getvalue()
