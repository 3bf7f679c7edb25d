"""Markdown the triage report's writer (:mod:`bugs.report`) and reader (:mod:`bugs.report_parse`) share.

Both sides follow the same rules here, so that whatever the writer puts in a field the reader gets
back: the marker of an empty field, titles on one line, and code spans by CommonMark's rule.
"""

from __future__ import annotations

import re

# What the report writes for a field with no value; the reader skips it.
EMPTY = "—"


def one_line(text: str) -> str:
    """The text on one line, whitespace runs collapsed: a line break in a heading would start a new bug."""
    return " ".join(text.split())


def code_span(text: str) -> str:
    """``text`` as a Markdown code span that nothing in it can close early (CommonMark, code spans).

    The span is fenced with one backtick more than the longest run of backticks in the text. A text
    that starts or ends with a backtick (or with a space at both ends) is padded with one space on
    each side, which a reader strips again.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and bool(text.strip(" ")))
    pad = " " if padded else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_spans(line: str) -> list[tuple[int, int, str]]:
    """The code spans of one line, as (start, end, content), by the CommonMark rules.

    A run of n backticks opens a span that the next run of exactly n backticks closes; an opening run
    with no such closing run is literal text. One space is stripped from each end of a content that
    starts and ends with a space and is not only spaces.
    """
    spans: list[tuple[int, int, str]] = []
    index = 0
    while (start := line.find("`", index)) >= 0:
        opened = _run_end(line, start)
        width = opened - start
        close = opened
        while (close := line.find("`", close)) >= 0 and _run_end(line, close) - close != width:
            close = _run_end(line, close)
        if close < 0:
            index = opened
            continue
        content = line[opened:close]
        if len(content) >= 2 and content[0] == content[-1] == " " and content.strip(" "):
            content = content[1:-1]
        spans.append((start, close + width, content))
        index = close + width
    return spans


def _run_end(line: str, start: int) -> int:
    """Where the run of backticks that starts at ``start`` ends."""
    end = start
    while end < len(line) and line[end] == "`":
        end += 1
    return end
