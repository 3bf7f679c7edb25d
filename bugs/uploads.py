"""An uploaded report: its format told from the first byte that is not a byte-order mark or blank
(``<`` or a UTF-16 mark is XML, anything else a report log), checked from its head, read, and served
back for download.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any

from django.http import StreamingHttpResponse

from bugs.junit import iter_junit, junit_check
from bugs.models import RunUpload
from bugs.parsers import ParsedResult, ReportFormatError
from bugs.report_log import _refuse_constant, parse_report_log
from bugs.selectors import run_upload_slices

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


def parse_report(stream: IO[bytes]) -> list[ParsedResult]:
    """Detect the format from the first byte past a byte-order mark and blanks, and read the report."""
    return list(iter_report(stream))


def iter_report(stream: IO[bytes]) -> Iterator[ParsedResult]:
    """The results of a report one by one: JUnit's as each testcase ends, a report log's once it is read
    (its phases and reruns of one test may be anywhere in the file). Raises ReportFormatError, possibly
    after some results, when the report turns out broken further on.
    """
    kind, rest = _detect(stream)
    if kind == "junit":
        yield from iter_junit(rest)  # type: ignore[arg-type]
    else:
        yield from parse_report_log(_lines(rest))


def report_check(stream: IO[bytes]) -> str:
    """Check the head of an upload, reading no further than its first element or line: "junit" or "report-log".

    Raises ReportFormatError for what can be told at once: an empty body, an encoding the XML declaration
    names but nobody knows, a DOCTYPE, a root other than JUnit's, a first line that is not a JSON object.
    """
    kind, rest = _detect(stream)
    if kind == "junit":
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


def upload_response(upload: RunUpload, *, content_type: str) -> StreamingHttpResponse:
    """The report as it was sent, streamed slice by slice, as an attachment named after its run."""
    suffix = "xml" if upload.kind == "junit" else "jsonl"
    response = StreamingHttpResponse(run_upload_slices(upload=upload), content_type=content_type)
    response["Content-Length"] = str(upload.size)
    response["Content-Disposition"] = f'attachment; filename="run-{upload.pk}.{suffix}"'
    return response
