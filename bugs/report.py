"""The triage report of SPEC section 6: one function renders it as Markdown, JSON or CSV.

The admin's download, ``GET triage-report/`` and ``manage.py export_triage`` all call
:func:`triage_report`. :func:`triage_parse` reads the Markdown back (this shape and the origin
platform's older ``bug_triage_report.md`` shape) for ``import_triage``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from bugs.models import ACTIVE_STATUSES, BugStatus, Category, Severity
from bugs.selectors import TriageData, triage_data

FORMATS = ("markdown", "json", "csv")
CONTENT_TYPES = {"markdown": "text/markdown; charset=utf-8", "json": "application/json", "csv": "text/csv; charset=utf-8"}
EXTENSIONS = {"markdown": "md", "json": "json", "csv": "csv"}
CLOSED_STATUSES = (BugStatus.DUPLICATE, BugStatus.WONT_FIX, BugStatus.DOCUMENTED)
EMPTY = "—"


@dataclass(frozen=True)
class TriageFilters:
    """Which bugs the report covers (empty means all)."""

    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


def triage_report(*, fmt: str = "markdown", filters: TriageFilters | None = None, now: datetime | None = None) -> str:
    """The triage report in one of FORMATS; the same data and order whatever the format."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    filters = filters or TriageFilters()
    data = triage_data(severities=filters.severities, statuses=filters.statuses, keys=filters.keys, now=now)
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
    entry: dict[str, Any] = {"node_id": link["node_id"], "flaky": link["is_flaky"], "latest_result": None}
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
    for b in bugs:
        for t in b["tests"]:
            if t["flaky"]:
                flaky.setdefault(t["node_id"], []).append(b["key"])
    return {
        "generated_at": _iso(now),
        "filters": data.filters,
        "suite": suite,
        "severities": severities,
        "bugs": bugs,
        "sla_breaches": [b["key"] for b in bugs if b["sla_breached"]],
        "new_regressions": [b["key"] for b in bugs if b["is_regression"] and b["status"] == BugStatus.REOPENED],
        "flaky_tests": [{"node_id": n, "bugs": keys} for n, keys in sorted(flaky.items())],
        "missing_regression_test": [b["key"] for b in live if not b["tests"]],
        "missing_fix_commit": [b["key"] for b in live if not b["fix_commit"]],
    }


def _hours(hours: int) -> str:
    return f"{hours // 24} d" if hours % 24 == 0 and hours >= 48 else f"{hours} h"


def _one_line(text: str) -> str:
    """The text on one line, whitespace runs collapsed: a line break in a heading would start a new bug."""
    return " ".join(text.split())


def _field(name: str, value: str) -> str:
    """One ``- **Name:** value`` line; further lines of the value are indented so they stay inside it."""
    text = value.strip().replace("\r\n", "\n") or EMPTY
    first, *rest = text.split("\n")
    return "\n".join([f"- **{name}:** {first}", *(f"  {line}" if line.strip() else "" for line in rest)])


def _result_text(test: dict[str, Any]) -> str:
    result = test["latest_result"]
    flaky = " (flaky)" if test["flaky"] else ""
    if result is None:
        return f"`{test['node_id']}` — not run yet{flaky}"
    commit = f" at {result['commit']}" if result["commit"] else ""
    return f"`{test['node_id']}` — {result['outcome']} (run #{result['run']}{commit}){flaky}"


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
        tests = ", ".join(f"`{t['node_id']}`" for t in b["tests"])
        lines = [
            "",
            f"### {b['key']}: {_one_line(b['title'])}",
            "",
            _field("Severity", b["severity"]),
            _field("Discovered", b["discovered_at"]),
            _field("SLA due", sla),
            _field("Category", b["category"]),
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
    out += [f"- {k}: {_one_line(by_key[k]['title'])}" for k in doc["new_regressions"]] or ["None."]
    out += ["", "## Flaky tests", ""]
    out += [f"- `{f['node_id']}` ({', '.join(f['bugs'])})" for f in doc["flaky_tests"]] or ["None."]
    out += ["", "## Missing a regression test", ""]
    out += [f"- {k} ({by_key[k]['severity']}): {_one_line(by_key[k]['title'])}" for k in doc["missing_regression_test"]] or ["None."]
    out += ["", "## Missing a fix commit", ""]
    out += [f"- {k} ({by_key[k]['severity']}): {by_key[k]['status_label']}" for k in doc["missing_fix_commit"]] or ["None."]
    return "\n".join(out) + "\n"


_CSV_COLUMNS = [
    "key", "title", "severity", "status", "category", "component", "discovered_at", "sla_due_at", "sla_breached",
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


# --- reading a report back --------------------------------------------------------------------------------

_HEADING = re.compile(r"^###\s+(BUG-[0-9]+)\s*(?:[:\u2014\u2013-]\s*(.*))?$")
_SECTION = re.compile(r"^#{1,2}\s+(.*)$")
_FIELD = re.compile(r"^(?:[-*]\s+)?\*\*(?P<name>[^*]+?):?\*\*:?\s*(?P<value>.*)$")
_PLAIN_FIELD = re.compile(r"^(?:[-*]\s+)?(?P<name>[A-Za-z][A-Za-z /]{1,30}):\s+(?P<value>.*)$")
_SEVERITY = re.compile(r"\b(P[0-3])\b")
_SHA = re.compile(r"\b([0-9a-f]{7,64})\b")
# A shorter hash (the API accepts 4 hex characters and up) only when it is the whole value: in prose,
# words such as "added" or "decade" would pass for one.
_SHORT_SHA = re.compile(r"[0-9a-f]{4,6}")
_NODE = re.compile(r"`([^`]+)`")
_DUP = re.compile(r"\bof\s+(BUG-[0-9]+)")

_NAMES = {
    "severity": "severity",
    "priority": "severity",
    "category": "category",
    "type": "category",
    "component": "component",
    "file": "component",
    "files": "component",
    "discovered": "discovered_at",
    "tests": "tests",
    "test": "tests",
    "regression test": "regression_test",
    "description": "description",
    "error": "actual",
    "actual": "actual",
    "expected": "expected",
    "root cause": "root_cause",
    "reproduction": "reproduction",
    "steps to reproduce": "reproduction",
    "fix strategy": "fix_strategy",
    "fix": "fix_strategy",
    "fix commit": "fix_commit",
    "fixed": "fix_commit",
    "commit": "fix_commit",
    "verification": "verification_note",
    "verified": "verification_note",
    "status": "status",
}
_STATUSES = {
    "RESOLVED": BugStatus.RESOLVED,
    "VERIFIED": BugStatus.RESOLVED,
    "FIXED": BugStatus.FIXED,
    "OPEN": BugStatus.OPEN,
    "NEW": BugStatus.OPEN,
    "IN PROGRESS": BugStatus.IN_PROGRESS,
    "REOPENED": BugStatus.REOPENED,
    "DOCUMENTED": BugStatus.DOCUMENTED,
    "WONT FIX": BugStatus.WONT_FIX,
    "WON'T FIX": BugStatus.WONT_FIX,
    "DUPLICATE": BugStatus.DUPLICATE,
}


class TriageFormatError(ValueError):
    """A report states a field in a form that cannot be read (an impossible date, say)."""


@dataclass
class ParsedBug:
    """One bug as a report states it; fields it leaves out stay out."""

    key: str
    title: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    node_ids: list[str] = field(default_factory=list)
    status: str | None = None
    duplicate_of: str | None = None


def _category(value: str) -> str:
    normal = re.sub(r"[^a-z]+", "_", value.lower()).strip("_")
    aliases = {"data_corruption": Category.DATA_LOSS, "resource_exhaustion": Category.COST_LEAK, "cost": Category.COST_LEAK}
    if normal in Category.values:
        return normal
    return str(aliases.get(normal, Category.QUALITY))


def _apply(bug: ParsedBug, name: str, value: str) -> None:
    key = _NAMES.get(name.strip().lower())
    value = value.strip()
    if key is None or value in ("", EMPTY):
        return
    if key == "severity":
        found = _SEVERITY.search(value.upper())
        if found:
            bug.fields["severity"] = found.group(1)
    elif key == "category":
        bug.fields["category"] = _category(value)
    elif key in ("tests", "regression_test"):
        nodes = _NODE.findall(value) or ([value.split()[0]] if "::" in value or value.endswith(".py") else [])
        bug.node_ids.extend(n for n in nodes if n not in bug.node_ids)
    elif key == "fix_commit":
        sha = _SHA.search(value.lower())
        if sha:
            bug.fields["fix_commit"] = sha.group(1)
        elif _SHORT_SHA.fullmatch(value.lower()):
            bug.fields["fix_commit"] = value.lower()
    elif key == "discovered_at":
        try:
            parsed = parse_datetime(value.replace("Z", "+00:00")) if "T" in value else None
        except ValueError as exc:  # well formed but impossible, such as month 13
            raise TriageFormatError(f"{bug.key}: Discovered {value[:40]!r} is not a valid date and time.") from exc
        if parsed:
            bug.fields["discovered_at"] = parsed.isoformat()
    elif key == "status":
        word = re.sub(r"[^A-Z' ]", " ", value.upper().replace("_", " ")).split("  ")[0].strip()
        for label, status in _STATUSES.items():
            if word.startswith(label):
                bug.status = status
                break
        dup = _DUP.search(value)
        if dup:
            bug.duplicate_of = dup.group(1)
        sha = _SHA.search(value.lower())
        if sha and "fix_commit" not in bug.fields:
            bug.fields["fix_commit"] = sha.group(1)
    else:
        bug.fields[key] = value


def triage_parse(text: str) -> list[ParsedBug]:
    """Bugs stated by a triage report of this module's shape or the origin's older shape.

    Older reports group bugs under ``## P0 (Critical) Bugs`` headings, write fields as
    ``**Root Cause:** …`` or ``Fixed: <hash>`` / ``Status: RESOLVED`` lines; both are understood.
    """
    bugs: list[ParsedBug] = []
    current: ParsedBug | None = None
    section_severity: str | None = None
    last_field: str | None = None
    blanks = 0  # blank lines inside a multi-line field, kept if an indented line follows
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            blanks += 1
            continue
        if current is not None and last_field and line.startswith("  "):
            # An indented line continues the field above, whatever it says (even "### BUG-…").
            name = _NAMES.get(last_field.lower())
            if name and name in current.fields:
                current.fields[name] += "\n" * (blanks + 1) + line[2:]
            blanks = 0
            continue
        blanks = 0
        heading = _HEADING.match(line)
        if heading:
            current = ParsedBug(key=heading.group(1), title=(heading.group(2) or "").strip())
            if section_severity:
                current.fields["severity"] = section_severity
            bugs.append(current)
            last_field = None
            continue
        section = _SECTION.match(line)
        if section:
            current, last_field = None, None
            found = _SEVERITY.search(section.group(1))
            section_severity = found.group(1) if found else None
            continue
        if current is None:
            continue
        match = _FIELD.match(line.strip()) or _PLAIN_FIELD.match(line.strip())
        if match:
            last_field = match.group("name").strip()
            _apply(current, last_field, match.group("value"))
        else:
            last_field = None
    return bugs
