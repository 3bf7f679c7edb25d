"""The seeded roles: the groups hold exactly the README's table; the demo users, one per group, get a password
printed once and are refused in production."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import ROLES
from accounts.services import demo_data_seed, demo_username
from atom.testing import api_client_for

pytestmark = pytest.mark.django_db

README = Path(settings.BASE_DIR) / "README.md"
ROW = re.compile(r"^\| (Operator|Reviewer|Auditor|Bug triager) \| (.+) \|$", re.MULTILINE)


def readme_roles() -> dict[str, set[str]]:
    return {name: set(re.findall(r"`([\w.]+)`", cell)) for name, cell in ROW.findall(README.read_text(encoding="utf-8"))}


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_readme_table_is_the_roles_data():
    assert readme_roles() == {name: set(permissions) for name, permissions in ROLES.items()}


def test_the_migration_seeded_every_group_with_exactly_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for name, permissions in ROLES.items():
        assert group_permissions(name) == set(permissions), name


def test_the_auditor_only_reads():
    assert all(permission.split(".")[1].startswith("view_") for permission in ROLES["Auditor"])
    assert "governance.view_auditentry" in ROLES["Auditor"]


def test_seed_demo_puts_one_user_in_each_group_and_prints_each_password_once():
    first, second = io.StringIO(), io.StringIO()
    demo_data_seed(large=False, stdout=first)
    demo_data_seed(large=False, stdout=second)
    for role in ROLES:
        user = get_user_model().objects.get(username=demo_username(role))
        assert list(user.groups.values_list("name", flat=True)) == [role]
        password = re.search(rf"{demo_username(role)} \({role}\) password: (\S+)", first.getvalue())
        assert password is not None
        assert user.check_password(password.group(1))
        assert password.group(1) not in second.getvalue()


def test_a_demo_user_signs_in_while_developing_and_is_refused_in_production(settings):
    output = io.StringIO()
    demo_data_seed(large=False, stdout=output)
    found = re.search(r"demo-auditor \(Auditor\) password: (\S+)", output.getvalue())
    assert found is not None
    password = found.group(1)
    credentials = {"username": "demo-auditor", "password": password}
    assert APIClient().post("/api/v1/auth/token/", credentials, format="json").status_code == 200
    assert Client().login(**credentials)
    user = get_user_model().objects.get(username="demo-auditor")
    client = api_client_for(user)

    settings.PRODUCTION = True
    assert APIClient().post("/api/v1/auth/token/", credentials, format="json").status_code == 401
    assert not Client().login(**credentials)
    assert client.get("/api/v1/agents/").status_code == 401


def test_no_demo_user_is_created_in_production(settings):
    settings.PRODUCTION = True
    output = io.StringIO()
    demo_data_seed(large=False, stdout=output)
    assert not get_user_model().objects.filter(username__startswith="demo-").exists()
    assert "refused in production" in output.getvalue()
    assert {name: group_permissions(name) for name in ROLES} == {name: set(p) for name, p in ROLES.items()}
