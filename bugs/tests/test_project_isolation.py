"""Projects keep their results apart: a run of one project's suite never becomes evidence of another's bug."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bugs.models import BugResult, BugStatus, Project, RegressionTest, Run, RunStatus, Suite
from bugs.parsers import ParsedResult
from bugs.services.results import results_store, run_finalize
from bugs.tests.factories import make_bug

pytestmark = pytest.mark.django_db

NODE_ID = "tests/test_api.py::test_create"


@pytest.mark.regression("BUG-124")
def test_p2_integrity_results_of_another_project_attach_to_a_bug_regression() -> None:
    """Two projects both have ``tests/test_api.py::test_create``, a common name. A failing run of the second
    project's suite must not attach to the first project's bug, nor become its test's latest result."""
    bug = make_bug(key="BUG-801", severity="P2", status=BugStatus.FIXED, fix_commit="abc1234")
    link = RegressionTest.objects.create(bug=bug, node_id=NODE_ID)
    other = Project.objects.create(slug="shop", name="Shop")
    suite = Suite.objects.create(name="shop", project=other)
    run = Run.objects.create(suite=suite, trigger=Run.Trigger.API, status=RunStatus.RUNNING, started_at=timezone.now())
    results_store(run=run, parsed=[ParsedResult(node_id=NODE_ID, outcome="failed", attempts=1, message="shop's own failure")])
    run_finalize(run_id=run.pk)
    link.refresh_from_db()
    assert not BugResult.objects.filter(bug=bug).exists()
    assert link.last_result is None
