"""P9: the triage report for 10,000 bugs and 1,000,000 results.

Target: ≤ 2 s, with a number of queries that does not grow with the bugs. Baseline: the report's
own read (the selector) without rendering, so the ratio is the cost of building the Markdown.
"""

from __future__ import annotations

import time

from bench.harness import Result, median

ID = "P9"
BUGS = 10_000
RESULTS = 1_000_000
TESTS_PER_BUG = 2


def run(scale: float) -> list[Result]:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bugs.models import Bug, RegressionTest, Run
    from bugs.parsers import ParsedResult
    from bugs.report import TriageFilters, triage_report
    from bugs.selectors import triage_data
    from bugs.services.results import results_store
    from bugs.services.status import run_apply_rules
    from bugs.services.suites import suite_default

    bugs = max(100, int(BUGS * scale))
    results = max(10_000, int(RESULTS * scale))
    now = timezone.now()
    severities = ["P0", "P1", "P2", "P3"]
    project_id = suite_default().project_id
    Bug.objects.bulk_create(
        Bug(
            key=f"BUG-{n + 1:05d}",
            project_id=project_id,
            title=f"Defect {n}",
            severity=severities[n % 4],
            status="open" if n % 3 else "in_progress",
            category="security" if n % 5 == 0 else "quality",
            root_cause="A cause long enough to look like a real one.",
            discovered_at=now - timedelta(days=n % 30),
            sla_due_at=now - timedelta(days=n % 30) + timedelta(days=7),
        )
        for n in range(bugs)
    )
    ids = list(Bug.objects.order_by("pk").values_list("pk", flat=True))
    node_ids = [f"tests/test_m{n // 200}.py::test_{n}" for n in range(bugs * TESTS_PER_BUG)]
    RegressionTest.objects.bulk_create(RegressionTest(bug_id=ids[n // TESTS_PER_BUG], node_id=node) for n, node in enumerate(node_ids))
    suite = suite_default()
    runs = max(1, results // len(node_ids))
    last = None
    for index in range(runs):
        last = Run.objects.create(suite=suite, trigger=Run.Trigger.IMPORT, status="running", commit_sha=f"{index:040x}", started_at=now)
        results_store(
            run=last,
            parsed=[
                ParsedResult(node_id=node, outcome="failed" if (n + index) % 50 == 0 else "passed", attempts=1)
                for n, node in enumerate(node_ids)
            ],
        )
        Run.objects.filter(pk=last.pk).update(status="passed", finished_at=now, total=len(node_ids), passed=len(node_ids))
    assert last is not None
    last.refresh_from_db()
    run_apply_rules(run=last)

    with CaptureQueriesContext(connection) as few:
        triage_report(filters=TriageFilters(severities=("P0",)))
    with CaptureQueriesContext(connection) as all_queries:
        triage_report()
    report_times, read_times = [], []
    for _ in range(3):
        start = time.perf_counter()
        triage_data()
        read_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        text = triage_report()
        report_times.append(time.perf_counter() - start)
    assert text.count("\n### BUG-") == bugs
    database = connection.vendor
    label = f"{bugs} bugs, {runs * len(node_ids)} results"
    return [
        Result(
            ID,
            f"Markdown report, {label}",
            median(report_times),
            "s",
            "≤ 2 s",
            median(read_times),
            median(report_times) / median(read_times),
            database,
            scale,
        ),
        Result(
            ID,
            "queries (all bugs vs P0 only)",
            len(all_queries),
            "queries",
            "independent of bugs",
            len(few),
            len(all_queries) / len(few),
            database,
            scale,
        ),
    ]
