"""Suites: the default suite (Atom's own regression tests) and where a suite's checkout lives."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from bugs import repos
from bugs.models import (
    Suite,
)


def suite_checkout(suite: Suite) -> Path:
    """Where the suite's tests live; a blank path is Atom's own code base."""
    return Path(suite.checkout_path) if suite.checkout_path else Path(settings.BASE_DIR)


def suite_repository(suite: Suite) -> Path | None:
    """The git repository whose history answers "does this commit contain the fix": the project's mirror,
    or the suite's checkout (None when neither exists)."""
    path = repos.mirror_path(suite.project) if suite.project.repository else suite_checkout(suite)
    return path if path.is_dir() else None


def suite_default() -> Suite:
    """The default suite (Atom's own regression tests), created on first use if an admin deleted it."""
    suite, _ = Suite.objects.get_or_create(
        name=settings.ATOM_BUGS_DEFAULT_SUITE,
        defaults={"pytest_args": ["-m", "regression"], "description": "Atom's own regression tests."},
    )
    return suite
