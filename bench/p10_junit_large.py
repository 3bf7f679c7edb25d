"""P10: import a JUnit file of 1,000,000 test cases, and a file whose one failure message is 16 MB.

Both go the way an upload from an external CI goes: the quick check and the stored upload of
``runs/import/``, then the worker's streaming read into results, attachment and finalization. Targets:
1 M cases in ≤ 15 s with the time per case within 1.3 times the time per case at 55 k (linear), the 16 MB
message in ≤ 1 s, peak RSS ≤ 300 MB. The baseline of each line is measured in the same run.
"""

from __future__ import annotations

import resource
import tempfile
import time
from typing import IO
from unittest import mock

from bench.harness import Result

ID = "P10"
CASES = 1_000_000
SMALL_CASES = 55_248
MESSAGE_BYTES = 16 * 1024 * 1024


def _junit(cases: int, *, message: str = "") -> IO[bytes]:
    """The report as a file on disk, as Django keeps an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE,
    written a thousand cases at a time so that building it costs no more memory than one chunk."""
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _import, once read
    spooled.write(b'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="com.acme.Suite">')
    for first in range(0, cases, 1000):
        parts = []
        for n in range(first, min(cases, first + 1000)):
            name = f'classname="com.acme.Module{n // 500}" name="case{n}" time="0.01"'
            if message or n % 97 == 0:
                text = message or f"expected {n} but was 0"
                parts.append(f'<testcase {name}><failure message="{text[:200]}">{text}</failure></testcase>')
            else:
                parts.append(f"<testcase {name}/>")
        spooled.write("".join(parts).encode())
    spooled.write(b"</testsuite></testsuites>")
    spooled.seek(0)
    return spooled


def _import(upload: IO[bytes]) -> tuple[float, int]:
    """Seconds from the upload to a finished run through the worker's path, and the run's total."""
    from bugs.models import Run
    from bugs.services.imports import run_import_parse, run_import_receive

    start = time.perf_counter()
    with upload, mock.patch("bugs.services.imports.run_import_enqueue"):  # the benchmark is the worker
        run = run_import_receive(stream=upload, name="bench.xml", commit_sha="c" * 40)
    run_import_parse(run_id=run.pk)
    seconds = time.perf_counter() - start
    return seconds, Run.objects.get(pk=run.pk).total


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(scale: float) -> list[Result]:
    from django.db import connection

    database = connection.vendor
    cases = max(SMALL_CASES, int(CASES * scale))
    small_seconds, small_total = _import(_junit(SMALL_CASES))
    assert small_total == SMALL_CASES
    before = _peak_mb()
    seconds, total = _import(_junit(cases))
    assert total == cases
    peak = _peak_mb()
    per_case_ratio = (seconds / cases) / (small_seconds / SMALL_CASES)

    reference_seconds, _ = _import(_junit(1, message="x" * 1024))
    message_seconds, message_total = _import(_junit(1, message="x" * MESSAGE_BYTES))
    assert message_total == 1
    return [
        Result(ID, f"import {cases} cases (upload to finished run)", seconds, "s", "≤ 15 s at 1 M", small_seconds, None, database, scale),
        Result(ID, f"time per case at {cases} vs at {SMALL_CASES}", per_case_ratio, "ratio", "≤ 1.3", None, None, database, scale),
        Result(ID, "one 16 MB failure message", message_seconds, "s", "≤ 1 s", reference_seconds, None, database, scale),
        Result(ID, "peak RSS of the process", peak, "MB", "≤ 300 MB", before, peak / before, database, scale),
    ]
