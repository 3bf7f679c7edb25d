"""The admin dashboard: staff only, every panel drawn from aggregate selectors, a query count that does not
grow with the data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bugs.models import Bug, Run
from bugs.selectors import dashboard_open_bugs_by_day, dashboard_run_pass_rates, dashboard_sla_by_severity
from bugs.tests.factories import SuiteFactory, make_bug, make_run
from console.tests.factories import dashboard_data_fill
from governance.models import AuditEntry, Decision, Proposal
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db

# Session and user of the admin login, seven aggregate queries (four in bugs, three in governance) and the
# health panel's two (workers seen, runs stuck),
# whatever the number of rows.
DASHBOARD_QUERIES = 11


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="correct horse battery staple")


def test_the_dashboard_draws_every_panel_as_inline_svg(client, operator):
    dashboard_data_fill(8)
    client.force_login(operator)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="pygal-chart"') == 5
    for panel in ("panel-open-bugs", "panel-sla", "panel-pass-rate", "panel-tiers", "panel-actions", "figure-proposals"):
        assert f'id="{panel}"' in body
    # Nothing is fetched from elsewhere: pygal's tooltip script would come from a CDN. (Its inline
    # config script stays: it loads nothing.)
    charts = body.split('id="dashboard"')[1]
    assert 'xlink:href="http' not in charts
    assert " src=" not in charts
    # Bars are plain links to the admin lists behind them.
    latest = Run.objects.order_by("-id").first()
    assert latest is not None
    assert f'xlink:href="/admin/bugs/run/{latest.pk}/change/"' in charts
    assert 'xlink:href="/admin/governance/agent/?maturity__exact=INTERN"' in charts


def test_the_query_count_does_not_grow_with_the_data(client, operator, django_assert_num_queries):
    client.force_login(operator)
    dashboard_data_fill(2)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        assert client.get("/admin/dashboard/").status_code == 200
    dashboard_data_fill(40)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        assert client.get("/admin/dashboard/").status_code == 200


def test_an_empty_database_still_renders(client, operator):
    client.force_login(operator)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert b"No finished regression run yet" in response.content


def test_non_staff_users_are_sent_to_the_login(client, user):
    client.force_login(user)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_admin_index_links_to_the_dashboard(client, operator):
    client.force_login(operator)
    body = client.get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in body


def test_open_bugs_count_from_discovery_until_they_leave_the_open_statuses():
    now = timezone.now()
    make_bug(severity="P0", discovered_at=now - timedelta(days=3))
    closed = make_bug(severity="P1", discovered_at=now - timedelta(days=40))
    Bug.objects.filter(pk=closed.pk).update(status="wont_fix", resolved_at=now - timedelta(days=1))
    days, counts = dashboard_open_bugs_by_day(days=5, now=now)
    assert days[-1] == timezone.localdate(now)
    assert counts["P0"] == [0, 1, 1, 1, 1]
    assert counts["P1"] == [1, 1, 1, 0, 0]  # opened before the window: counted from its first day
    assert counts["P3"] == [0] * 5


def test_a_fixed_bug_leaves_the_open_count_and_is_counted_apart_until_a_run_verifies_it():
    now = timezone.now()
    fixed = make_bug(severity="P2", discovered_at=now - timedelta(days=2))
    Bug.objects.filter(pk=fixed.pk).update(status="fixed", fix_commit="a" * 40)
    assert dashboard_open_bugs_by_day(days=3, now=now)[1]["P2"] == [1, 1, 0]
    assert dashboard_sla_by_severity(now=now)["P2"] == {"open": 0, "breached": 0, "fixed": 1}


def test_sla_breaches_count_only_bugs_whose_clock_runs():
    now = timezone.now()
    earlier = now - timedelta(days=2)
    make_bug(severity="P0", discovered_at=earlier, sla_due_at=now - timedelta(hours=1))
    make_bug(severity="P0", discovered_at=earlier, sla_due_at=now + timedelta(hours=1))
    make_bug(severity="P0", discovered_at=earlier, status="documented", sla_due_at=now - timedelta(hours=1))
    counts = dashboard_sla_by_severity(now=now)
    assert counts["P0"] == {"open": 2, "breached": 1, "fixed": 0}
    assert counts["P2"] == {"open": 0, "breached": 0, "fixed": 0}


def test_pass_rates_cover_finished_runs_oldest_first():
    suite = SuiteFactory(name="atom")
    first = make_run(suite=suite, status="failed", passed=3, failed=1)
    make_run(suite=suite, status="running")
    make_run(suite=suite, status="cancelled")
    last = make_run(suite=suite, status="error", passed=0, failed=0, errors=0)
    rows = dashboard_run_pass_rates(limit=10)
    assert [row["pk"] for row in rows] == [first.pk, last.pk]
    assert rows[0]["pass_rate"] == 0.75
    assert rows[1]["pass_rate"] is None
    assert Run.objects.count() == 4


def test_agents_by_tier_split_active_from_paused():
    from governance.selectors import dashboard_agents_by_tier

    make_agent(maturity="INTERN")
    make_agent(maturity="INTERN", state="paused")
    counts = dashboard_agents_by_tier()
    assert counts["INTERN"] == {"active": 1, "inactive": 1}
    assert counts["AUTONOMOUS"] == {"active": 0, "inactive": 0}


def test_actions_per_hour_group_outcomes_and_ignore_older_rows():
    from governance.selectors import dashboard_actions_by_hour

    agent = make_agent()
    AuditEntry.objects.bulk_create(
        AuditEntry(agent=agent, action="read", outcome=outcome, cost=Decimal("0"))
        for outcome in (Decision.EXECUTE, Decision.SUPERVISED, Decision.BLOCKED, Decision.RATE_LIMITED, Decision.PROPOSAL)
    )
    hours, series = dashboard_actions_by_hour(hours=24)
    assert len(hours) == 24
    assert series["allowed"][-1] == 2
    assert series["refused"][-1] == 2
    assert series["proposed"][-1] == 1
    later = dashboard_actions_by_hour(hours=24, now=timezone.now() + timedelta(days=2))[1]
    assert sum(sum(values) for values in later.values()) == 0


def test_proposals_waiting_counts_pending_only():
    from governance.selectors import dashboard_proposals_waiting

    agent = make_agent()
    now = timezone.now()
    for status, expires in (("pending", 30), ("pending", 300), ("rejected", 30)):
        Proposal.objects.create(
            agent=agent,
            requested_by=agent.owner,
            action="send_email",
            complexity=3,
            status=status,
            expires_at=now + timedelta(minutes=expires),
        )
    figures = dashboard_proposals_waiting(now=now)
    assert figures["waiting"] == 2
    assert figures["expiring_soon"] == 1
    assert figures["oldest"] is not None
