"""P6: ingest a JUnit XML of 55,248 test cases (the size of the Atom suite) and attach it to bugs.

Target: ≤ 3 s, ≤ 250 MB peak, and a query count that does not grow with the report. Baseline: the
streaming parse alone, so the ratio is what storing and attaching cost on top of reading.
"""

from __future__ import annotations

import io
import resource
import time

from bench.harness import Result

ID = "P6"
CASES = 55_248


def _junit(cases: int) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">']
    for n in range(cases):
        module, name = f"tests.test_mod{n // 500}", f"test_case_{n}"
        if n % 97 == 0:
            failure = f'<failure message="assert {n} == 0">Traceback</failure>'
            parts.append(f'<testcase classname="{module}" name="{name}" time="0.01">{failure}</testcase>')
        else:
            parts.append(f'<testcase classname="{module}" name="{name}" time="0.01"/>')
    parts.append("</testsuite></testsuites>")
    return "".join(parts).encode()


def _node(n: int) -> str:
    return f"tests/test_mod{n // 500}.py::test_case_{n}"


def run(scale: float) -> list[Result]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bugs.models import Bug, BugResult, RegressionTest
    from bugs.services.bugs import bug_create
    from bugs.services.imports import run_import
    from bugs.uploads import parse_report

    cases = max(1000, int(CASES * scale))
    linked = min(cases, 5000)
    bugs = [bug_create(key=f"BUG-{n + 1:04d}", title=f"bug {n}", severity="P2") for n in range(linked // 2)]
    RegressionTest.objects.bulk_create(RegressionTest(bug=bugs[n // 2], node_id=_node(n * (cases // linked))) for n in range(linked))
    body = _junit(cases)
    small = _junit(1000)

    start = time.perf_counter()
    parsed = parse_report(io.BytesIO(body))
    parse_seconds = time.perf_counter() - start
    assert len(parsed) == cases
    del parsed

    with CaptureQueriesContext(connection) as small_queries:
        run_import(stream=io.BytesIO(small), commit_sha="b" * 40)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        imported = run_import(stream=io.BytesIO(body), commit_sha="a" * 40)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    attached = BugResult.objects.filter(result__run=imported).count()
    assert imported.total == cases
    assert attached == linked
    assert Bug.objects.count() == linked // 2
    database = connection.vendor
    return [
        Result(ID, f"ingest + attach {cases} cases", seconds, "s", "≤ 3 s", parse_seconds, seconds / parse_seconds, database, scale),
        Result(ID, "peak RSS of the process", peak, "MB", "≤ 250 MB", before, peak / before, database, scale),
        Result(
            ID,
            f"queries ({cases} cases vs 1000)",
            len(queries),
            "queries",
            "independent of size",
            len(small_queries),
            len(queries) / len(small_queries),
            database,
            scale,
        ),
    ]
