"""seed_demo --large: generated demo bugs and runs beside the real catalog, never mixed into it."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bugs import demo as seed_module
from bugs.demo import DEMO_BRANCH, DEMO_KEY_START, DEMO_TITLE_PREFIX, catalog_load, demo_data_seed, demo_keys, demo_large_seed
from bugs.models import ACTIVE_STATUSES, Bug, BugStatus, Outcome, Result, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_scale(monkeypatch):
    monkeypatch.setattr(seed_module, "DEMO_LARGE_BUGS", 120)
    monkeypatch.setattr(seed_module, "DEMO_LARGE_RUNS", 15)
    monkeypatch.setattr(seed_module, "DEMO_RESULTS_PER_RUN", 8)


def _demo_bugs():
    return Bug.objects.filter(title__startswith=DEMO_TITLE_PREFIX)


def test_large_adds_demo_bugs_and_runs_beside_the_catalog(small_scale):
    out = StringIO()
    demo_data_seed(large=True, stdout=out)
    catalog_keys = {entry["key"] for entry in catalog_load()}
    assert set(Bug.objects.exclude(title__startswith=DEMO_TITLE_PREFIX).values_list("key", flat=True)) == catalog_keys
    demo = _demo_bugs()
    assert demo.count() == 120
    assert not catalog_keys & set(demo.values_list("key", flat=True))
    assert all(int(key.split("-")[1]) >= DEMO_KEY_START for key in demo.values_list("key", flat=True))
    assert Run.objects.filter(branch=DEMO_BRANCH).count() == 15
    assert Result.objects.filter(run__branch=DEMO_BRANCH).count() == 15 * 8
    assert "bugs" in out.getvalue()  # the tqdm bar's description
    assert "120 generated bugs and 15 runs new" in out.getvalue()


def test_generated_bugs_are_varied_past_and_some_breach_their_sla(small_scale):
    demo_data_seed(large=True, stdout=StringIO())
    now = timezone.now()
    demo = _demo_bugs()
    assert not demo.filter(discovered_at__gt=now).exists()
    assert not demo.filter(discovered_at__lt=now - timedelta(days=31)).exists()
    assert set(demo.values_list("severity", flat=True)) == {"P0", "P1", "P2", "P3"}
    assert len(set(demo.values_list("status", flat=True))) >= 5
    assert demo.filter(status__in=ACTIVE_STATUSES, sla_due_at__lt=now).exists()
    closed = demo.filter(status__in=["wont_fix", "documented"])
    assert closed.exists()
    assert not closed.filter(updated_at__gt=now).exists()
    assert closed.filter(updated_at__lt=now - timedelta(days=1)).count() > closed.count() / 2  # not all closed "today"
    assert not demo.exclude(created_at=models.F("discovered_at")).exists()
    rates = {run.passed / run.total for run in Run.objects.filter(branch=DEMO_BRANCH)}
    assert len(rates) > 3


def test_generated_rows_follow_the_status_rules(small_scale):
    demo_data_seed(large=True, stdout=StringIO())
    demo = _demo_bugs()
    assert not demo.filter(status=BugStatus.FIXED, fix_commit="").exists()
    resolved = list(demo.filter(status=BugStatus.RESOLVED).select_related("verified_by__run"))
    assert resolved
    for bug in resolved:
        assert bug.verified_by.outcome == Outcome.PASSED
        assert bug.verified_by.run.commit_sha == bug.fix_commit
        assert bug.resolved_at is not None
        assert bug.resolved_at >= bug.discovered_at
    for run in Run.objects.filter(branch=DEMO_BRANCH):
        assert run.finished_at is not None
        assert run.passed + run.failed + run.errors == run.total


def test_running_it_twice_changes_nothing(small_scale):
    demo_data_seed(large=True, stdout=StringIO())
    counts = (Bug.objects.count(), Run.objects.count(), Result.objects.count())
    assert demo_large_seed(stdout=StringIO()) == (0, 0)
    demo_data_seed(large=True, stdout=StringIO())
    assert (Bug.objects.count(), Run.objects.count(), Result.objects.count()) == counts


def test_the_query_count_does_not_grow_with_the_size():
    def queries(bugs):
        Bug.objects.filter(title__startswith=DEMO_TITLE_PREFIX).delete()
        Run.objects.filter(branch=DEMO_BRANCH).delete()
        with CaptureQueriesContext(connection) as context:
            demo_large_seed(stdout=StringIO(), bugs=bugs, runs=bugs // 4, results_per_run=5)
        return len(context.captured_queries)

    queries(8)  # creates the default suite
    small, large = queries(40), queries(400)  # 1,000 rows at the larger size
    # A query per batch, never per row; SQLite's bound-parameter limit makes its batches smaller.
    assert large <= 40
    if connection.vendor == "postgresql":
        assert small == large


def test_demo_keys_never_reach_the_real_catalog(monkeypatch):
    assert demo_keys(3) == [f"BUG-{DEMO_KEY_START + n:03d}" for n in range(3)]
    monkeypatch.setattr(seed_module, "DEMO_KEY_START", 1)
    with pytest.raises(ValueError, match="collide with the real catalog"):
        demo_keys(5)


def test_without_large_only_the_catalog_is_loaded():
    demo_data_seed(large=False, stdout=StringIO())
    assert not _demo_bugs().exists()
    assert not Run.objects.exists()
    assert Bug.objects.count() == len(catalog_load())


@pytest.mark.regression("BUG-117")
def test_p3_performance_demo_seed_reads_the_default_project_once_per_bug_regression():
    """BUG-117 (P3, performance): seeding 400 demo bugs ran 400 more queries, one read of the default project
    per bug built in memory (the default of Bug.project), and broke the seed's bounded query count."""
    _seed_once(8)
    with CaptureQueriesContext(connection) as context:
        demo_large_seed(stdout=StringIO(), bugs=400, runs=0, results_per_run=0)
    project_reads = [q["sql"] for q in context.captured_queries if 'FROM "bugs_project"' in q["sql"]]
    assert len(project_reads) <= 1, f"{len(project_reads)} reads of the project for 400 bugs"
    assert _demo_bugs().count() == 400


def _seed_once(bugs: int) -> None:
    """Seed once so the default suite (and with it the default project) exists."""
    demo_large_seed(stdout=StringIO(), bugs=bugs, runs=bugs // 4, results_per_run=5)
    Bug.objects.filter(title__startswith=DEMO_TITLE_PREFIX).delete()
    Run.objects.filter(branch=DEMO_BRANCH).delete()
