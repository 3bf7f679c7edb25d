"""Assignment: a bug given to an operator from its page, under its own permission; "assigned to me" lists them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from bugs.models import Bug
from bugs.services.bugs import bug_assign, bug_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def bug() -> Bug:
    return bug_create(title="Budget charged twice", severity="P1")


def test_the_read_page_assigns_a_bug_to_an_operator(admin_client, staff_user, bug):
    page = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert f'<option value="{staff_user.pk}">operator</option>' in page
    response = admin_client.post(f"/admin/bugs/bug/{bug.pk}/assign/", {"assignee": staff_user.pk})
    assert response.status_code == 302
    bug.refresh_from_db()
    assert bug.assignee == staff_user
    admin_client.post(f"/admin/bugs/bug/{bug.pk}/assign/", {"assignee": ""})
    bug.refresh_from_db()
    assert bug.assignee is None


def test_only_an_active_operator_can_take_a_bug(admin_client, user, bug):
    admin_client.post(f"/admin/bugs/bug/{bug.pk}/assign/", {"assignee": user.pk})  # not staff
    bug.refresh_from_db()
    assert bug.assignee is None
    user.is_active = False
    from atom.errors import DomainError

    with pytest.raises(DomainError, match="active user"):
        bug_assign(bug=bug, assignee=user, actor=None)


def test_assigning_needs_its_own_permission(client, django_user_model, bug):
    # Not this folder's staff_user fixture, which holds every permission of the bugs app.
    staff_user = django_user_model.objects.create_user(username="viewer", password="correct horse battery staple", is_staff=True)
    staff_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_bug", "change_bug"]))
    client.force_login(staff_user)
    assert 'id="bug-assign"' not in client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert client.post(f"/admin/bugs/bug/{bug.pk}/assign/", {"assignee": staff_user.pk}).status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="assign_bug"))
    assert client.post(f"/admin/bugs/bug/{bug.pk}/assign/", {"assignee": staff_user.pk}).status_code == 302
    bug.refresh_from_db()
    assert bug.assignee == staff_user


def test_assigned_to_me_lists_only_my_bugs(admin_client, django_user_model, bug):
    me = django_user_model.objects.get(username="admin")
    other = bug_create(title="Slow audit page", severity="P3")
    bug_assign(bug=bug, assignee=me, actor=me)
    page = admin_client.get("/admin/bugs/bug/?assigned=me").content.decode()
    assert bug.key in page
    assert other.key not in page
    unassigned = admin_client.get("/admin/bugs/bug/?assigned=nobody").content.decode()
    assert other.key in unassigned
    assert bug.key not in unassigned
