"""Reading a triage report back: this module's Markdown shape and the origin platform's older one.

:func:`triage_parse` turns the text into :class:`ParsedBug` records for ``import_triage``; it writes
nothing. The renderer lives in :mod:`bugs.report`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from bugs.models import BugStatus, Category
from bugs.report_markdown import EMPTY, code_spans

_HEADING = re.compile(r"^###\s+(BUG-[0-9]+)\s*(?:[:\u2014\u2013-]\s*(.*))?$")
_SECTION = re.compile(r"^#{1,2}\s+(.*)$")
_FIELD = re.compile(r"^(?:[-*]\s+)?\*\*(?P<name>[^*]+?):?\*\*:?\s*(?P<value>.*)$")
_PLAIN_FIELD = re.compile(r"^(?:[-*]\s+)?(?P<name>[A-Za-z][A-Za-z /]{1,30}):\s+(?P<value>.*)$")
_SEVERITY = re.compile(r"\b(P[0-3])\b")
_SHA = re.compile(r"\b([0-9a-f]{7,64})\b")
# A shorter hash (the API accepts 4 hex characters and up) only when it is the whole value: in prose,
# words such as "added" or "decade" would pass for one.
_SHORT_SHA = re.compile(r"[0-9a-f]{4,6}")
_DUP = re.compile(r"\bof\s+(BUG-[0-9]+)")
_DATE = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<zone>Z|[+-]\d{2}:?\d{2})?)?", re.ASCII)
_THEMATIC_BREAK = re.compile(r"^(?:-{3,}|\*{3,}|_{3,})$")
_LIST_MARKER = re.compile(r"^(?:[-*+]|[0-9]+[.)])\s+")
_STATUS_LEAD = re.compile(r"^[\W_]+")
# "**Fix:** Commit 41fa1643 (Phase 6 Plan 02)": the older shape names the fix commit under "Fix".
_FIX_COMMIT = re.compile(r"^(?:commit\s+)?`?(?P<sha>[0-9a-f]{7,64})`?(?![0-9a-z])", re.IGNORECASE)

_NAMES = {
    "severity": "severity",
    "priority": "severity",
    "category": "category",
    "type": "category",
    "component": "component",
    "file": "component",
    "files": "component",
    "discovered": "discovered_at",
    "sla": "sla_due_at",
    "sla due": "sla_due_at",
    "tests": "tests",
    "test": "tests",
    "regression test": "regression_test",
    "description": "description",
    "issue": "description",
    "error": "actual",
    "actual": "actual",
    "expected": "expected",
    "root cause": "root_cause",
    "reproduction": "reproduction",
    "steps to reproduce": "reproduction",
    "fix strategy": "fix_strategy",
    "fix": "fix",
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
    status_note: str = ""
    # When the report was generated: the older shape's bugs have no date of their own.
    report_date: str | None = None
    duplicate_of: str | None = None
    warnings: list[str] = field(default_factory=list)


# The category words of older reports and what they are here. A report word is compared in lower
# case with runs of other characters read as one space; Atom's own names ("data_loss") are in it too.
# The word the report used is kept on the bug (reported_category) unless it is the category's own name.
CATEGORY_TABLE: dict[str, str] = {
    "security": Category.SECURITY,
    "authentication": Category.SECURITY,
    "authorization": Category.SECURITY,
    "data loss": Category.DATA_LOSS,
    "data corruption": Category.DATA_LOSS,
    "cost leak": Category.COST_LEAK,
    "cost": Category.COST_LEAK,
    "resource exhaustion": Category.COST_LEAK,
    "resource leak": Category.COST_LEAK,
    "crash": Category.CRASH,
    "integrity": Category.INTEGRITY,
    "data integrity": Category.INTEGRITY,
    "consistency": Category.INTEGRITY,
    "infrastructure": Category.INFRASTRUCTURE,
    "configuration": Category.INFRASTRUCTURE,
    "dependencies": Category.INFRASTRUCTURE,
    "test framework": Category.INFRASTRUCTURE,
    "test infrastructure": Category.INFRASTRUCTURE,
    "performance": Category.PERFORMANCE,
    "quality": Category.QUALITY,
    "code quality": Category.QUALITY,
    "test behavior": Category.QUALITY,
    "test coverage": Category.QUALITY,
    "coverage": Category.QUALITY,
    "user experience": Category.QUALITY,
    "documentation": Category.QUALITY,
}
# Atom's own report writes "infrastructure (Test Framework)": the category, then the report's word.
_CATEGORY_WITH_WORD = re.compile(r"^(?P<category>[a-z_]+) \((?P<word>.+)\)$")
REPORTED_CATEGORY_MAX = 100


def _category_words(value: str) -> str:
    return " ".join(re.sub(r"[^a-z]+", " ", value.lower()).split())


def _apply_category(bug: ParsedBug, value: str) -> None:
    """The category through :data:`CATEGORY_TABLE`, and the word the report used when it is another."""
    own = _CATEGORY_WITH_WORD.match(value)
    if own and own.group("category") in Category.values:
        category, word = own.group("category"), own.group("word")
    else:
        words = _category_words(value)
        found = CATEGORY_TABLE.get(words)
        category = str(found or Category.QUALITY)
        word = "" if words == _category_words(category) else value
        if found is None:
            bug.warnings.append(f"{bug.key}: Category: {value!r} is not in the category table; read as quality.")
    bug.fields["category"] = category
    bug.fields["reported_category"] = word[:REPORTED_CATEGORY_MAX]


def _when(value: str, *, bug: str, label: str) -> datetime | None:
    """The first date (and time) in a field: ``2026-02-12T18:00:00Z``, ``Fix by 2026-02-12 18:00``, ``2026-02-11``.

    A date without a time is its midnight, a time without a zone is UTC (the older shape writes
    neither). A date that cannot exist (month 13) refuses the report.
    """
    found = _DATE.search(value)
    if found is None:
        return None
    text = f"{found.group('date')}T{found.group('time') or '00:00'}{found.group('zone') or '+00:00'}"
    try:
        parsed = parse_datetime(text.replace("Z", "+00:00"))
    except ValueError as exc:  # well formed but impossible, such as month 13
        raise TriageFormatError(f"{bug}: {label} {value[:40]!r} is not a valid date and time.") from exc
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _test_ids(value: str) -> tuple[list[str], list[str]]:
    """The tests a Tests field names (code spans, or one or more per list item, separated by commas),
    and the text around them that names no test."""
    found: list[str] = []
    rest: list[str] = []
    for line in value.split("\n"):
        item = _LIST_MARKER.sub("", line.strip())
        spans = code_spans(item)
        if spans:
            found += [content for _, _, content in spans]
            bounds = [0, *(edge for start, end, _ in spans for edge in (start, end)), len(item)]
            rest += [item[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
            continue
        for piece in _outside_brackets_split(item, ","):
            first, _, after = piece.strip().partition(" ")
            if "::" in first or first.endswith(".py"):
                found.append(first)
                rest.append(after)
            else:
                rest.append(piece)
    return found, [text.strip() for text in rest if text.strip(" ,;")]


def _outside_brackets_split(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` that is not inside brackets (a test's parameters hold commas)."""
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth = max(depth - 1, 0)
        elif char == separator and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    return [*pieces, text[start:]]


def _apply_status(bug: ParsedBug, value: str) -> bool:
    """The status word, wherever the report puts it: ``RESOLVED (abc1234)``, ``✅ FIXED - what was done``.

    Whether a status word was found; a duplicate's target and a commit hash are read either way.
    """
    # The older shape puts a symbol (an emoji, often with a variation selector) before the word.
    text = _STATUS_LEAD.sub("", value)
    upper = text.upper().replace("_", " ")
    found = False
    for label, status in _STATUSES.items():
        if upper.startswith(label) and not upper[len(label) : len(label) + 1].isalpha():
            bug.status, found = status, True
            # "FIXED - File renamed…": the older shape says what was done after a dash; keep all of it.
            if text[len(label) :].strip().startswith("- "):
                bug.status_note = value
            break
    dup = _DUP.search(value)
    if dup:
        bug.duplicate_of = dup.group(1)
    sha = _SHA.search(value.lower())
    if sha and "fix_commit" not in bug.fields:
        bug.fields["fix_commit"] = sha.group(1)
    return found


def _apply_fix(bug: ParsedBug, value: str) -> None:
    """A Fix field names the fix commit (the older shape) or else says how the bug is fixed."""
    found = _FIX_COMMIT.match(value)
    if found is None:
        strategy = bug.fields.get("fix_strategy")
        bug.fields["fix_strategy"] = f"{strategy}\n\n{value}" if strategy else value
        return
    bug.fields["fix_commit"] = found.group("sha").lower()
    rest = value[found.end() :].strip()
    if rest:
        bug.warnings.append(f"{bug.key}: Fix: {rest!r} after the commit is not kept.")


def _finish(bug: ParsedBug) -> None:
    """What a bug's fields say together, once all are read: the status note joins the verification."""
    if bug.status_note:
        note = f"Report status: {bug.status_note}"
        verification = bug.fields.get("verification_note")
        bug.fields["verification_note"] = f"{verification}\n\n{note}" if verification else note


def _apply(bug: ParsedBug, name: str, value: str) -> None:
    """Read one field into the bug; what cannot be read becomes a warning naming the bug and the field."""
    label = name.strip()
    key = _NAMES.get(label.lower())
    value = value.strip()
    if key is None:
        bug.warnings.append(f"{bug.key}: {label}: not a field of a bug; not imported.")
        return
    if value in ("", EMPTY):
        return
    if key == "severity":
        found = _SEVERITY.search(value.upper())
        if found:
            bug.fields["severity"] = found.group(1)
        else:
            bug.warnings.append(f"{bug.key}: {label}: {value!r} is not one of P0 to P3; not imported.")
    elif key == "category":
        _apply_category(bug, value)
    elif key in ("tests", "regression_test"):
        _apply_tests(bug, label, value, listed=key == "tests")
    elif key == "fix_commit":
        sha = _SHA.search(value.lower())
        if sha:
            bug.fields["fix_commit"] = sha.group(1)
        elif _SHORT_SHA.fullmatch(value.lower()):
            bug.fields["fix_commit"] = value.lower()
        else:
            bug.warnings.append(f"{bug.key}: {label}: {value!r} is not a commit hash; not imported.")
    elif key in ("discovered_at", "sla_due_at"):
        when = _when(value, bug=bug.key, label=label)
        if when is not None:
            bug.fields[key] = when.isoformat()
        else:
            bug.warnings.append(f"{bug.key}: {label}: {value!r} holds no date; not imported.")
    elif key == "status":
        if not _apply_status(bug, value):
            bug.warnings.append(f"{bug.key}: {label}: {value!r} is not a status; the status is left as it is.")
    elif key == "fix":
        _apply_fix(bug, value)
    else:
        # Two fields of a report can fill one of the bug (Description and Issue): keep both.
        before = bug.fields.get(key)
        bug.fields[key] = f"{before}\n\n{value}" if before and before != value else value


def _apply_tests(bug: ParsedBug, label: str, value: str, *, listed: bool) -> None:
    """Link the tests a field names. A Tests field is a list, so anything else in it is reported;
    a Regression test field may say more after each test (Atom writes the latest result there)."""
    found, rest = _test_ids(value)
    bug.node_ids.extend(n for n in found if n not in bug.node_ids)
    if listed:
        bug.warnings += [f"{bug.key}: {label}: {text!r} is not a test; not linked." for text in rest]
    elif not found and value != "MISSING":
        bug.warnings.append(f"{bug.key}: {label}: {value!r} names no test; not linked.")


class _Reader:
    """Reads a report line by line; a field is applied once its last line is known.

    A field's value may start on the line after its name (a code block, a numbered list, a list of
    tests): every indented line below a field belongs to it, so the whole value is gathered first.
    """

    def __init__(self) -> None:
        self.bugs: list[ParsedBug] = []
        self.current: ParsedBug | None = None
        self.section_severity: str | None = None
        self.field_name: str | None = None
        self.field_lines: list[str] = []
        self.blanks = 0  # blank lines inside a multi-line field, kept if an indented line follows
        self.generated: str | None = None

    def feed(self, raw: str) -> None:
        line = raw.rstrip()
        if not line.strip():
            self.blanks += 1
            return
        if self.field_name is not None and line.startswith("  "):
            # An indented line continues the field above, whatever it says (even "### BUG-…").
            self.field_lines += [""] * self.blanks + [line[2:]]
            self.blanks = 0
            return
        self.blanks = 0
        self.close_field()
        heading = _HEADING.match(line)
        if heading:
            self.current = ParsedBug(key=heading.group(1), title=(heading.group(2) or "").strip())
            if self.section_severity:
                self.current.fields["severity"] = self.section_severity
            self.bugs.append(self.current)
            return
        section = _SECTION.match(line)
        if section:
            self.current = None
            found = _SEVERITY.search(section.group(1))
            self.section_severity = found.group(1) if found else None
            return
        match = _FIELD.match(line.strip()) or _PLAIN_FIELD.match(line.strip())
        if self.current is None:
            if match and match.group("name").strip().lower() == "generated" and not self.bugs:
                when = _when(match.group("value"), bug="the report", label="Generated")
                self.generated = when.isoformat() if when else None
            return
        if match:
            self.field_name = match.group("name").strip()
            self.field_lines = [match.group("value")]
        elif not _THEMATIC_BREAK.match(line.strip()):
            self.current.warnings.append(f"{self.current.key}: line {line.strip()[:80]!r} is not a field; not imported.")

    def close_field(self) -> None:
        if self.current is not None and self.field_name is not None:
            _apply(self.current, self.field_name, "\n".join(self.field_lines))
        self.field_name = None
        self.field_lines = []


def triage_parse(text: str) -> list[ParsedBug]:
    """Bugs stated by a triage report of this module's shape or the origin's older shape.

    Older reports group bugs under ``## P0 (Critical) Bugs`` headings, write fields as
    ``**Root Cause:** …`` or ``Fixed: <hash>`` / ``Status: RESOLVED`` lines; both are understood.
    """
    reader = _Reader()
    # A byte-order mark (UTF-8 as some editors save it) would stick to the first line and hide its heading.
    for raw in text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n"):
        reader.feed(raw)
    reader.close_field()
    for bug in reader.bugs:
        bug.report_date = reader.generated
        _finish(bug)
    return reader.bugs
