"""Tokens die with the session they belong to: a password change or reset, a deactivation and a "sign out
everywhere" each revoke every access and refresh token issued before them (401 ``TOKEN_REVOKED``).

Tokens are obtained through the API, as a client would, so the tests hold whatever the token classes are.
The same tests run on SQLite and, in CI, on PostgreSQL; the race with a concurrent refresh needs PG.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"
TOKEN, REFRESH, LOGOUT_ALL = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/logout-all/"
PROTECTED = "/api/v1/agents/"


@pytest.fixture(autouse=True)
def _generous_login_limits(settings: Any) -> None:
    settings.ATOM_LOGIN_RATE_PER_IP = "1000/m"
    settings.ATOM_LOGIN_RATE_PER_USERNAME = "1000/m"


def token_pair(username: str, password: str = PASSWORD) -> dict[str, str]:
    response = APIClient().post(TOKEN, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def access_status(access: str) -> tuple[int, str]:
    response = APIClient().get(PROTECTED, HTTP_AUTHORIZATION=f"Bearer {access}")
    return response.status_code, response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""


def refresh_status(refresh: str) -> tuple[int, str]:
    response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
    return response.status_code, response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""


def change_password(user: Any) -> None:
    user.set_password("another horse battery staple")
    user.save()


def reset_password_in_admin(user: Any) -> None:
    """An operator resets the password through the admin's own form."""
    superuser = get_user_model().objects.create_superuser("root", password=PASSWORD)
    browser = Client()
    browser.force_login(superuser)
    response = browser.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "a reset horse battery staple", "password2": "a reset horse battery staple", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:500]


def deactivate_and_reactivate(user: Any) -> None:
    user.is_active = False
    user.save()
    user.is_active = True
    user.save()


def sign_out_everywhere_through_the_api(user: Any) -> None:
    fresh = token_pair(user.username)["access"]
    response = APIClient().post(LOGOUT_ALL, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert response.status_code == 204, response.content


def sign_out_everywhere_in_the_admin(user: Any) -> None:
    superuser = get_user_model().objects.create_superuser("root", password=PASSWORD)
    browser = Client()
    browser.force_login(superuser)
    response = browser.post("/admin/auth/user/", {"action": "sign_out_everywhere", "_selected_action": [user.pk]})
    assert response.status_code == 302, response.content[:500]


TRIGGERS: dict[str, Callable[[Any], None]] = {
    "password-change": change_password,
    "admin-reset": reset_password_in_admin,
    "deactivate-reactivate": deactivate_and_reactivate,
    "sign-out-everywhere-api": sign_out_everywhere_through_the_api,
    "sign-out-everywhere-admin": sign_out_everywhere_in_the_admin,
}


@pytest.mark.regression("BUG-090")
@pytest.mark.django_db
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_p1_security_tokens_outlive_password_and_sign_out_regression(user, trigger):
    """BUG-090 (P1, security): a password change or reset, a deactivation and a sign-out left every issued
    token valid. The old access token answered 200; the old refresh token refreshed, and so did its rotated
    successor. Deactivate, reset, reactivate: the attacker's old refresh token worked again."""
    before = token_pair(user.username)
    assert access_status(before["access"]) == (200, "")

    TRIGGERS[trigger](user)

    assert access_status(before["access"]) == (401, "TOKEN_REVOKED")
    assert refresh_status(before["refresh"]) == (401, "TOKEN_REVOKED")


@pytest.mark.django_db
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_rotated_refresh_token_dies_with_the_one_it_came_from(user, trigger):
    """The successor of a refresh token spent before the revocation is revoked too."""
    before = token_pair(user.username)
    rotated = APIClient().post(REFRESH, {"refresh": before["refresh"]}, format="json").json()
    TRIGGERS[trigger](user)
    assert access_status(rotated["access"]) == (401, "TOKEN_REVOKED")
    assert refresh_status(rotated["refresh"]) == (401, "TOKEN_REVOKED")


@pytest.mark.django_db
@pytest.mark.parametrize("trigger", ["password-change", "sign-out-everywhere-api", "deactivate-reactivate"])
def test_tokens_issued_after_the_revocation_work(user, trigger):
    """The revocation is not a ban: a new sign-in (with the new password) works at once, within the same
    second, because nothing depends on the issue time."""
    TRIGGERS[trigger](user)
    password = "another horse battery staple" if trigger == "password-change" else PASSWORD
    after = token_pair(user.username, password)
    assert access_status(after["access"]) == (200, "")
    assert refresh_status(after["refresh"]) == (200, "")


@pytest.mark.django_db
def test_sign_out_everywhere_spares_other_users(user, other_user):
    mine, theirs = token_pair(user.username), token_pair(other_user.username)
    sign_out_everywhere_through_the_api(user)
    assert access_status(mine["access"])[0] == 401
    assert access_status(theirs["access"]) == (200, "")
    assert refresh_status(theirs["refresh"]) == (200, "")


@pytest.mark.django_db
def test_a_deactivated_user_is_refused_while_inactive(user):
    before = token_pair(user.username)
    user.is_active = False
    user.save()
    assert access_status(before["access"])[0] == 401
    assert refresh_status(before["refresh"])[0] == 401


@pytest.mark.django_db
def test_the_admin_session_ends_with_the_password(user):
    """Django's session hash ties an admin session to the password: a change elsewhere signs it out."""
    user.is_staff = True
    user.save()
    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    assert browser.get("/admin/").status_code == 200
    change_password(get_user_model().objects.get(pk=user.pk))
    response = browser.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def _race_step(step: tuple[str, str]) -> dict[str, Any]:
    """One thread of the race: ("refresh", refresh token) or ("sign-out", access token)."""
    kind, token = step
    try:
        if kind == "sign-out":
            response = APIClient().post(LOGOUT_ALL, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == 204
            return {}
        response = APIClient().post(REFRESH, {"refresh": token}, format="json")
        return dict(response.json()) if response.status_code == 200 else {}
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_racing_a_sign_out_never_outlives_it(user):
    """Refreshes racing a sign-out everywhere: whatever wins the race, no token issued from the old refresh
    token works once the sign-out has returned, and one refresh at most wins."""
    assert connection.vendor == "postgresql"
    for _round in range(3):
        before = token_pair(user.username)
        access = token_pair(user.username)["access"]
        steps = [("sign-out", access)] + [("refresh", before["refresh"])] * 3
        with ThreadPoolExecutor(max_workers=4) as pool:
            winners = [answer for answer in pool.map(_race_step, steps) if answer]
        assert len(winners) <= 1
        for pair in winners:
            assert access_status(pair["access"]) == (401, "TOKEN_REVOKED")
            assert refresh_status(pair["refresh"]) == (401, "TOKEN_REVOKED")
