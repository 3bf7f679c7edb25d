"""The admin in a real headless browser: an operator can sign in and reach every app."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_signs_in_and_sees_the_admin(browser_page, admin_login, artifact_path):
    admin_login(browser_page)
    assert browser_page.locator("#site-name").is_visible()
    browser_page.screenshot(path=artifact_path("admin-index.png"), full_page=True)


def test_a_wrong_password_keeps_the_operator_out(browser_page, staff_user):
    browser_page.goto("/admin/login/")
    browser_page.fill("#id_username", staff_user.username)
    browser_page.fill("#id_password", "wrong password")
    browser_page.click("input[type=submit]")
    assert browser_page.locator(".errornote").is_visible()
    assert "/admin/login/" in browser_page.url
