"""Readers for JUnit XML (``bugs.junit``) and pytest's report log (JSON lines) into one result shape.

Both readers stream: a 55,000-case file is never held as a tree. The format is told from the first
byte that is not a byte-order mark or blank: ``<`` (or a UTF-16 mark) is XML, anything else a report log.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

MESSAGE_MAX = 2000
TRACEBACK_MAX = 8000
# Longer than any test can run; the bound keeps sums of durations finite as well.
DURATION_MAX = 1e9


class ReportFormatError(ValueError):
    """The uploaded report is not JUnit XML or a pytest report log, or is hostile."""


@dataclass(slots=True)
class ParsedResult:
    """One test's outcome, merged over its phases (setup, call, teardown) and reruns.

    ``node_id`` is the text that links a result to bugs: pytest's node id for pytest's own reports, the
    text form of the tool's identity (``bugs.junit.identity_text``) for any other. The identity's parts
    are kept beside it: ``kind`` ("pytest" or "junit"), the suite, the scope (file, else suite) it is
    named in, classname, name, file and line as the tool wrote them, and the ordinal of a repeat.
    """

    node_id: str
    outcome: str = "passed"
    duration_seconds: float = 0.0
    attempts: int = 0
    is_flaky: bool = False
    message: str = ""
    traceback: str = ""
    kind: str = "pytest"
    suite: str = ""
    scope: str = ""
    classname: str = ""
    name: str = ""
    file: str = ""
    line: int | None = None
    ordinal: int = 1
    _seen_outcomes: set[str] = field(default_factory=set, repr=False)
    _phases: set[str] = field(default_factory=set, repr=False)


def clean_text(text: str) -> str:
    """The text without NUL and with lone surrogates replaced: both are refused by the databases' text and JSON."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def duration_seconds(value: Any) -> float:
    """Seconds from a report: a missing one is 0, a negative one 0; a non-number, NaN or absurd size is refused."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ReportFormatError("A test's duration is not a number.")
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ReportFormatError("A test's duration is not a number.") from exc
    if not math.isfinite(seconds) or seconds > DURATION_MAX:
        raise ReportFormatError(f"A test's duration is not a number of seconds up to {DURATION_MAX:.0f}.")
    return max(0.0, seconds)


TRUNCATED = "… [truncated]"


def clip(text: str, limit: int) -> str:
    """The cleaned text, cut to ``limit`` characters with a visible marker when it was longer."""
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


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


def _merge_report(parsed: ParsedResult, report: dict[str, Any]) -> None:
    when = report.get("when")
    outcome = report.get("outcome")
    parsed._phases.add(str(when))
    parsed.duration_seconds += duration_seconds(report.get("duration"))
    if when == "call" or (when == "setup" and outcome != "passed"):
        parsed.attempts += 1
    if outcome == "rerun":
        parsed._seen_outcomes.add("failed")
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
        parsed._seen_outcomes.add(parsed.outcome)
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
    results: dict[str, ParsedResult] = {}
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
        parsed = results.get(node_id)
        if parsed is None:
            parsed = results[node_id] = ParsedResult(node_id=node_id)
        _merge_report(parsed, record)
    if not seen_any:
        raise ReportFormatError("The body is neither JUnit XML nor a pytest report log.")
    for parsed in results.values():
        parsed.attempts = max(1, parsed.attempts)
        if parsed.outcome == "passed" and not parsed._phases & {"call", "teardown"}:
            # Set up but never called: pytest was stopped (time limit, killed worker) inside this test.
            parsed.outcome = "error"
            parsed.message = "The test did not finish: pytest was stopped while it ran."
        parsed.is_flaky = parsed.outcome == "passed" and "failed" in parsed._seen_outcomes
    return list(results.values())


_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


def parse_report(stream: IO[bytes]) -> list[ParsedResult]:
    """Detect the format from the first byte past a byte-order mark and blanks, and read the report."""
    kind, rest = _detect(stream)
    if kind == "junit":
        from bugs.junit import parse_junit  # here: the JUnit reader builds on the shapes this module defines

        return parse_junit(rest)  # type: ignore[arg-type]
    return parse_report_log(_lines(rest))


def report_check(stream: IO[bytes]) -> str:
    """Check the head of an upload, reading no further than its first element or line: "junit" or "report-log".

    Raises ReportFormatError for what can be told at once: an empty body, an encoding the XML declaration
    names but nobody knows, a DOCTYPE, a root other than JUnit's, a first line that is not a JSON object.
    """
    kind, rest = _detect(stream)
    if kind == "junit":
        from bugs.junit import junit_check

        junit_check(rest)  # type: ignore[arg-type]
        return kind
    first = next((line for line in _lines(rest) if line.strip()), b"")
    try:
        record = json.loads(first, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ReportFormatError("The body is neither JUnit XML nor a pytest report log.") from exc
    if not isinstance(record, dict):
        raise ReportFormatError("A report log holds one JSON object per line.")
    return kind


def _detect(stream: IO[bytes]) -> tuple[str, io.RawIOBase]:
    """The format ("junit" or "report-log") and the stream with what was read to tell it put back."""
    head = stream.read(2)
    if head in _UTF16_STARTS:
        # UTF-16 XML: the parser reads the mark or the declaration itself.
        return "junit", _Prefixed(head, stream)
    head += stream.read(1)
    if head == _UTF8_BOM:
        head = b""  # the mark only says UTF-8, which both readers assume
    head = head.lstrip()
    while not head:
        byte = stream.read(1)
        if not byte:
            raise ReportFormatError("The report is empty.")
        head = byte.lstrip()
    return ("junit" if head[:1] == b"<" else "report-log"), _Prefixed(head, stream)


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _lines(stream: Any) -> Iterator[bytes]:
    yield from io.BufferedReader(stream, buffer_size=1 << 16)
