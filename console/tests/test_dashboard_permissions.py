"""The dashboard shows each panel only to those who may see its data; with no permission at all, the page says
so and shows no figure. Being staff grants nothing by itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from console.tests.factories import dashboard_data_fill

pytestmark = pytest.mark.django_db

# Each figure and panel of the dashboard, and the permission its data needs.
SHOWN_WITH: dict[str, str] = {
    "figure-proposals": "governance.view_proposal",
    "figure-breaches": "bugs.view_bug",
    "panel-open-bugs": "bugs.view_bug",
    "panel-sla": "bugs.view_bug",
    "figure-actions": "governance.view_auditentry",
    "panel-actions": "governance.view_auditentry",
    "figure-agents": "governance.view_agent",
    "panel-tiers": "governance.view_agent",
    "figure-runs": "bugs.view_run",
    "panel-pass-rate": "bugs.view_run",
}


def staff_holding(django_user_model: Any, *permissions: str) -> Any:
    user = django_user_model.objects.create_user("staff", password="correct horse battery staple", is_staff=True)
    rows = [Permission.objects.get(content_type__app_label=p.split(".")[0], codename=p.split(".")[1]) for p in permissions]
    user.user_permissions.set(rows)
    return user


def shown(client: Any) -> set[str]:
    body = client.get("/admin/dashboard/").content.decode()
    return {element for element in SHOWN_WITH if f'id="{element}"' in body}


@pytest.mark.regression("BUG-096")
def test_p2_security_dashboard_shows_every_figure_to_any_staff_regression(client, django_user_model):
    """BUG-096 (P2, security): the dashboard showed every app's figures to staff holding no permission at
    all (the same user got 403 on the agent and bug lists): the view only checked ``is_staff``."""
    dashboard_data_fill(3)
    client.force_login(staff_holding(django_user_model))
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert shown(client) == set()
    assert "no permission to see any figure" in response.content.decode()
    assert 'class="pygal-chart"' not in response.content.decode()


@pytest.mark.parametrize("permission", sorted(set(SHOWN_WITH.values())))
def test_each_permission_shows_exactly_its_panels(client, django_user_model, permission):
    dashboard_data_fill(3)
    client.force_login(staff_holding(django_user_model, permission))
    assert shown(client) == {element for element, needed in SHOWN_WITH.items() if needed == permission}


def test_a_user_who_may_see_no_panel_costs_no_aggregate_query(client, django_user_model, django_assert_max_num_queries):
    dashboard_data_fill(3)
    client.force_login(staff_holding(django_user_model))
    # Session, user, the user's permissions and its groups' permissions: nothing else.
    with django_assert_max_num_queries(4):
        assert client.get("/admin/dashboard/").status_code == 200
