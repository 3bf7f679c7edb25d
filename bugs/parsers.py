"""The one result shape every report reader produces, and the rules they share for text and durations.

Readers: bugs.junit (JUnit XML as the tools write it), bugs.report_log (pytest's report log);
bugs.uploads tells an upload's format and hands it to the right one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


def clean_text(text: str) -> str:
    """The text without NUL and with lone surrogates replaced: both are refused by the databases' text and JSON."""
    if text.isascii() and "\x00" not in text:
        return text  # nothing to replace: most fields of most reports, checked at C speed
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
