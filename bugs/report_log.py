"""pytest's report log (JSON lines, from pytest-reportlog) read into results, keeping reruns."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bugs.parsers import MESSAGE_MAX, TRACEBACK_MAX, ParsedResult, ReportFormatError, clip, duration_seconds

# --- pytest report log -----------------------------------------------------------------------------


def _typed(value: Any, kind: type, what: str) -> Any:
    """The value when it is of the kind the report format gives that part; otherwise the report is refused."""
    if not isinstance(value, kind):
        raise ReportFormatError(f"A test report's {what} has the wrong type.")
    return value


def _refuse_constant(name: str) -> Any:
    raise ReportFormatError(f"A report log may not hold {name}: JSON has no such number.")


def _longrepr_text(longrepr: Any) -> tuple[str, str]:
    """(message, traceback) from a serialised longrepr of any of pytest's shapes."""
    if longrepr is None:
        return "", ""
    if isinstance(longrepr, str):
        return longrepr.strip().splitlines()[-1] if longrepr.strip() else "", longrepr
    if isinstance(longrepr, list) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2]), ""
    if isinstance(longrepr, dict):
        crash = _typed(longrepr.get("reprcrash") or {}, dict, "reprcrash")
        message = str(crash.get("message", ""))
        lines: list[str] = []
        traceback = _typed(longrepr.get("reprtraceback") or {}, dict, "reprtraceback")
        for entry in _typed(traceback.get("reprentries") or [], list, "reprentries"):
            data = _typed(_typed(entry, dict, "reprentries").get("data") or {}, dict, "reprentries' data")
            lines.extend(str(line) for line in _typed(data.get("lines") or [], list, "reprentries' lines"))
        return message, "\n".join(lines)
    return "", str(longrepr)


@dataclass
class _Merged:
    """A result being merged from its reports, with what the merge remembers: the phases seen and the
    outcomes of its attempts."""

    parsed: ParsedResult
    phases: set[str] = field(default_factory=set)
    outcomes: set[str] = field(default_factory=set)


def _merge_report(merged: _Merged, report: dict[str, Any]) -> None:
    parsed = merged.parsed
    when = report.get("when")
    outcome = report.get("outcome")
    merged.phases.add(str(when))
    parsed.duration_seconds += duration_seconds(report.get("duration"))
    if when == "call" or (when == "setup" and outcome != "passed"):
        parsed.attempts += 1
    if outcome == "rerun":
        merged.outcomes.add("failed")
        return
    failing = outcome == "failed"
    if when == "setup":
        if failing:
            parsed.outcome = "error"
        elif outcome == "skipped":
            parsed.outcome = "skipped"
    elif when == "call":
        if "wasxfail" in report:
            parsed.outcome = "xfailed" if outcome == "skipped" else ("xpassed" if outcome == "passed" else "failed")
        else:
            parsed.outcome = {"passed": "passed", "failed": "failed", "skipped": "skipped"}.get(str(outcome), "error")
        merged.outcomes.add(parsed.outcome)
    elif when == "teardown" and failing and parsed.outcome == "passed":
        parsed.outcome = "error"
    if failing or outcome == "skipped":
        message, traceback = _longrepr_text(report.get("longrepr"))
        parsed.message = clip(message, MESSAGE_MAX)
        parsed.traceback = clip(traceback, TRACEBACK_MAX)


def parse_report_log(lines: Iterable[str | bytes]) -> list[ParsedResult]:
    """Read a pytest report log; reruns raise ``attempts`` and a rerun that finally passed is flaky.

    A truncated last line (pytest killed while writing) is ignored, so partial logs still count.
    """
    results: dict[str, _Merged] = {}
    seen_any = False
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
        except ReportFormatError:
            raise
        except ValueError:
            continue
        if not isinstance(record, dict):
            raise ReportFormatError("A report log holds one JSON object per line.")
        seen_any = True
        if record.get("$report_type") != "TestReport":
            continue
        node_id = record.get("nodeid")
        if not isinstance(node_id, str) or not node_id:
            continue
        merged = results.get(node_id)
        if merged is None:
            merged = results[node_id] = _Merged(ParsedResult(node_id=node_id))
        _merge_report(merged, record)
    if not seen_any:
        raise ReportFormatError("The body is neither JUnit XML nor a pytest report log.")
    for merged in results.values():
        parsed = merged.parsed
        parsed.attempts = max(1, parsed.attempts)
        if parsed.outcome == "passed" and not merged.phases & {"call", "teardown"}:
            # Set up but never called: pytest was stopped (time limit, killed worker) inside this test.
            parsed.outcome = "error"
            parsed.message = "The test did not finish: pytest was stopped while it ran."
        parsed.is_flaky = parsed.outcome == "passed" and "failed" in merged.outcomes
    return [merged.parsed for merged in results.values()]
