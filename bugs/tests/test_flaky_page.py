"""The flaky-test page: each linked test's flake rate over its latest runs, and the quarantine switch."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from bugs import history
from bugs.models import RegressionTest
from bugs.tests.history_data import bug_with_history

pytestmark = pytest.mark.django_db

NODE = "tests/test_guard.py::test_case_0"


def test_flake_rates_cost_two_queries_whatever_the_history(django_assert_num_queries):
    for runs in (4, 90):
        bug_with_history(runs=runs)
        with django_assert_num_queries(2):
            rates = history.flake_rates()
        assert all(rate.runs == min(runs, 30) for rate in rates)


def test_the_rate_counts_flaky_results_and_mixed_commits_within_the_window():
    bug_with_history(runs=60)
    rate = next(rate for rate in history.flake_rates() if rate.node_id == NODE)
    assert rate.runs == 30
    assert 0 < rate.flaky <= 30
    assert rate.first_flaky_commit <= rate.last_flaky_commit  # commits grow with the runs in this data
    with override_settings(ATOM_BUGS_FLAKY_WINDOW=5):
        assert next(r for r in history.flake_rates() if r.node_id == NODE).runs == 5


def test_the_page_lists_each_test_with_its_rate_and_switch(admin_client):
    bug_with_history(runs=10)
    page = admin_client.get("/admin/bugs/flakytest/").content.decode()
    assert page.count('class="button quarantine-switch"') == 2
    assert NODE in page


def test_the_switch_quarantines_and_releases_every_link_of_the_test(admin_client):
    bug_with_history(runs=3)
    response = admin_client.post("/admin/bugs/flakytest/quarantine/", {"node_id": NODE, "quarantined": "1"})
    assert response.status_code == 302
    assert RegressionTest.objects.get(node_id=NODE).quarantined
    assert "Release" in admin_client.get("/admin/bugs/flakytest/").content.decode()
    admin_client.post("/admin/bugs/flakytest/quarantine/", {"node_id": NODE, "quarantined": "0"})
    assert not RegressionTest.objects.get(node_id=NODE).quarantined


def test_quarantine_needs_its_own_permission(client, django_user_model):
    # Not this folder's staff_user fixture, which holds every permission of the bugs app.
    staff_user = django_user_model.objects.create_user(username="viewer", password="correct horse battery staple", is_staff=True)
    bug_with_history(runs=3)
    staff_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_flakytest", "change_regressiontest", "change_bug"]))
    client.force_login(staff_user)
    assert "quarantine-switch" not in client.get("/admin/bugs/flakytest/").content.decode()
    assert client.post("/admin/bugs/flakytest/quarantine/", {"node_id": NODE, "quarantined": "1"}).status_code == 403
    assert not RegressionTest.objects.get(node_id=NODE).quarantined
    staff_user.user_permissions.add(Permission.objects.get(codename="quarantine_regressiontest"))
    assert client.post("/admin/bugs/flakytest/quarantine/", {"node_id": NODE, "quarantined": "1"}).status_code == 302
    assert RegressionTest.objects.get(node_id=NODE).quarantined


def test_a_get_never_switches(admin_client):
    bug_with_history(runs=1)
    assert admin_client.get(f"/admin/bugs/flakytest/quarantine/?node_id={NODE}&quarantined=1").status_code == 405
