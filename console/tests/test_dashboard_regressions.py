"""Regressions of the dashboard: what it counts as open, and how it draws a run that errored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bugs.models import Bug
from bugs.selectors import dashboard_open_bugs_by_day
from bugs.tests.factories import SuiteFactory, make_bug, make_run
from console.views import pass_rate_chart

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="correct horse battery staple")


@pytest.mark.regression("BUG-106")
def test_p3_quality_dashboard_counts_fixed_unverified_bugs_as_open_regression(client, operator):
    now = timezone.now()
    fixed = make_bug(severity="P2", discovered_at=now - timedelta(days=2))
    Bug.objects.filter(pk=fixed.pk).update(status="fixed", fix_commit="a" * 40)
    make_bug(severity="P2", discovered_at=now - timedelta(days=2))
    assert dashboard_open_bugs_by_day(days=3, now=now)[1]["P2"][-1] == 1  # the open one only
    client.force_login(operator)
    body = client.get("/admin/dashboard/").content.decode()
    figure = body.split('id="figure-fixed-unverified"', 1)[1].split("</a>", 1)[0]
    assert "<strong>1</strong>" in figure
    assert "fixed, awaiting verification" in figure
    assert "not counted as open" in body


@pytest.mark.regression("BUG-107")
def test_p3_quality_errored_run_is_an_empty_slot_in_the_pass_rate_chart_regression():
    suite = SuiteFactory(name="atom")
    make_run(suite=suite, status="passed", passed=4, total=4, done=4)
    errored = make_run(suite=suite, status="error", error_message="pytest could not start")
    svg, runs = pass_rate_chart()
    assert runs == 2
    bars = svg.split('class="series serie-0 color-0">', 1)[1]
    assert bars.count('class="rect reactive tooltip-trigger"') == 2  # one bar per run, the errored one included
    errored_bar = bars.split(f'xlink:href="/admin/bugs/run/{errored.pk}/change/"', 1)[1].split("</a>", 1)[0]
    assert "#b91c1c" in errored_bar  # drawn in red
