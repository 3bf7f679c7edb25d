"""Suites: the default suite (Atom's own regression tests) and where a suite's checkout lives."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from bugs.models import (
    Suite,
)


def suite_checkout(suite: Suite) -> Path:
    """Where the suite's tests live; a blank path is Atom's own code base."""
    return Path(suite.checkout_path) if suite.checkout_path else Path(settings.BASE_DIR)


def suite_default() -> Suite:
    """The default suite (Atom's own regression tests), created on first use if an admin deleted it."""
    suite, _ = Suite.objects.get_or_create(
        name=settings.ATOM_BUGS_DEFAULT_SUITE,
        defaults={"pytest_args": ["-m", "regression"], "description": "Atom's own regression tests."},
    )
    return suite
