"""A real pytest project in a temporary git repository, for the runner and commit-linking tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bugs.tests.projects import Upstream


@pytest.fixture
def project(tmp_path: Path) -> Upstream:
    """A git repository holding a small pytest project whose files the test rewrites commit by commit."""
    repo = Upstream(tmp_path / "project")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write("pytest.ini", "[pytest]\n")
    return repo


@pytest.fixture
def suite_for() -> Callable[..., Any]:
    """Register a suite on a checkout, as an admin would.

    The projects need no third-party pytest plugin, so autoloading them is off: each pytest start
    saves about a second.
    """
    from bugs.models import Suite

    def make(project: Upstream, *, name: str = "project", timeout: int = 60, args: list[str] | None = None) -> Suite:
        suite, _ = Suite.objects.update_or_create(
            name=name,
            defaults={
                "checkout_path": str(project.path),
                "pytest_args": args or [],
                "timeout_seconds": timeout,
                "environment": {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            },
        )
        return suite

    return make


@pytest.fixture
def staff_user(staff_user: Any) -> Any:
    """The operator of these tests holds every permission of the bugs app: being staff alone grants nothing."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="bugs"))
    return get_user_model().objects.get(pk=staff_user.pk)


@pytest.fixture
def command_actor(django_user_model: Any, settings: Any) -> Any:
    """The user the state-changing commands of a test act as (a superuser, named by ATOM_COMMAND_ACTOR)."""
    actor = django_user_model.objects.create_superuser(username="cli", password="correct horse battery staple")
    settings.ATOM_COMMAND_ACTOR = actor.username
    return actor


@pytest.fixture
def imports_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports are read in this process as soon as they are queued, as a worker would (no broker needed).

    The test's own transaction never commits, so the parse runs where the commit would have queued it.
    """
    from types import SimpleNamespace

    from django.db import transaction

    from bugs.services.imports import run_import_parse

    monkeypatch.setattr("bugs.services.imports.run_import_enqueue", lambda run_id: run_import_parse(run_id=run_id))
    inline = SimpleNamespace(atomic=transaction.atomic, on_commit=lambda callback, robust=False: callback())
    monkeypatch.setattr("bugs.services.imports.transaction", inline)
