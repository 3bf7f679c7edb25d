"""Fixtures shared by every app's tests, and the rules for tests that need real services.

Tests marked ``postgres`` or ``redis`` skip with a reason when the service is not configured, and
fail instead when ATOM_TEST_SERVICES=1 (CI), so a service test can never silently not run there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

# Under CI (ATOM_TEST_SERVICES=1, or CI=true as CI systems set it) a service test never skips: it fails.
SERVICES_REQUIRED = os.environ.get("ATOM_TEST_SERVICES") == "1" or os.environ.get("CI") == "true"


def pytest_configure(config: pytest.Config) -> None:
    if SERVICES_REQUIRED and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise pytest.UsageError("ATOM_TEST_SERVICES=1 (or CI=true) needs DATABASE_URL and REDIS_URL set.")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _service_missing(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and not os.environ.get("DATABASE_URL"):
        return "needs PostgreSQL: set DATABASE_URL (CI sets it with ATOM_TEST_SERVICES=1)"
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        return "needs Redis: set REDIS_URL (CI sets it with ATOM_TEST_SERVICES=1)"
    if item.get_closest_marker("browser") and not CHROMIUM:
        return "needs Chromium: `apt-get install chromium` (make test installs it on Debian when run as root)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _service_missing(item)
    if reason is None:
        return
    if SERVICES_REQUIRED:
        pytest.fail(f"ATOM_TEST_SERVICES=1 (or CI=true) but this service test cannot run: {reason}")
    pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Each run writes under its own var/test-<pid>/ (see atom.settings_test); leave nothing behind.
    if settings.TESTING and settings.VAR_DIR.name.startswith("test-") and not hasattr(session.config, "workerinput"):
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Rate-limit counters and cached decisions never leak from one test into another."""
    from django.core.cache import cache

    if settings.SHARED_CACHE:
        # Never FLUSHDB: the broker and other test runs may share this Redis database.
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        for key in client.scan_iter(match=f"{settings.CACHE_KEY_PREFIX}:*"):
            client.delete(key)
    else:
        cache.clear()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="owner", password="correct horse battery staple")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="intruder", password="correct horse battery staple")


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="operator", password="correct horse battery staple", is_staff=True)


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    """A superuser: holds every permission (what a staff flag alone never grants)."""
    return django_user_model.objects.create_superuser(username="root", password="correct horse battery staple")


@pytest.fixture
def api_client() -> Any:
    """An APIClient with no credentials."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for() -> Any:
    """Build an APIClient that sends a valid bearer token for the given user."""
    from atom.testing import api_client_for

    return api_client_for


def _shared_queue() -> str:
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}-shared"


@pytest.fixture(scope="session")
def _shared_worker(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:
    """The run's one shared `celery worker` process, on a queue of its own (see celery_worker_process)."""
    from atom.testing import queue_purge, worker_start, worker_stop

    with django_db_blocker.unblock():
        process = worker_start(queue=_shared_queue())
    try:
        yield process
    finally:
        worker_stop(process)
        queue_purge(_shared_queue())


@pytest.fixture
def celery_worker_process(transactional_db: Any, _shared_worker: Any) -> Iterator[Any]:
    """A real `celery worker` process sharing this run's test database and broker.

    The test's database is transactional, so its rows are committed and the worker sees them. Only
    their tasks reach it: the worker reads a queue of its own, to which the test's tasks are sent while it
    runs. Before the test's database is emptied, the worker has run what the test gave it (BUG-162: a
    task still running then deadlocked with the flush).
    """
    from atom.testing import tasks_sent_to, worker_drain

    with tasks_sent_to(_shared_queue()):
        yield _shared_worker
    if _shared_worker.poll() is None:
        worker_drain(_shared_queue())


@pytest.fixture
def browser_page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium, pointed at a live server of this test run.

    Screenshots taken with ``page.screenshot(path=artifact_path(name))`` are kept under var/artifacts/.
    """
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server's data is only
    # touched through HTTP and by the test's own setup, so Django's async guard can stand down.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # Database work done by the test while Playwright's loop ran used connections of that
            # context; left open, they keep PostgreSQL from dropping the test database at the end.
            from django.db import connections

            connections.close_all()


@pytest.fixture
def artifact_path(request: pytest.FixtureRequest) -> Any:
    """Where a test keeps a screenshot or other artifact: var/artifacts/<test name>-<name>."""
    folder = Path(settings.BASE_DIR) / "var" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)

    def build(name: str) -> str:
        return str(folder / f"{request.node.name}-{name}")

    return build


@pytest.fixture
def admin_login(staff_user: Any) -> Any:
    """Sign the page in to the admin as a superuser and return that user."""

    def login(page: Any) -> Any:
        staff_user.is_superuser = True
        staff_user.save(update_fields=["is_superuser"])
        page.goto("/admin/login/")
        page.fill("#id_username", staff_user.username)
        page.fill("#id_password", "correct horse battery staple")
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        return staff_user

    return login
