"""Suites: the default suite (Atom's own regression tests) and where a suite's checkout lives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from atom.errors import DomainError, NotFoundError
from bugs import repos
from bugs.envs import python_validate, requirements_validate
from bugs.models import (
    Project,
    Suite,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

# The fields a suite is configured with (admin form, API): each checked by suite_validate.
SUITE_FIELDS = ("project", "checkout_path", "pytest_args", "environment", "timeout_seconds", "description", "python", "requirements")


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


def suite_validate(values: dict[str, Any]) -> dict[str, Any]:
    """The suite's fields as stored, or a DomainError naming the first one refused (the interpreter must exist
    and be executable; requirement files are relative paths of the repository)."""
    cleaned = dict(values)
    if "python" in cleaned:
        cleaned["python"] = python_validate(cleaned["python"] or "")
    if "requirements" in cleaned:
        cleaned["requirements"] = requirements_validate(cleaned["requirements"])
    if "project" in cleaned and not isinstance(cleaned["project"], Project):
        project = Project.objects.filter(slug=str(cleaned["project"])).first()
        if project is None:
            raise NotFoundError(f"No project {cleaned['project']!r}.")
        cleaned["project"] = project
    environment = cleaned.get("environment", {})
    names_ok = isinstance(environment, dict) and all(isinstance(k, str) and _ENV_NAME.match(k) for k in environment)
    if not names_ok or not all(isinstance(v, str) for v in environment.values()):
        raise DomainError("The environment maps variable names (letters, digits, _) to strings.", code="INVALID_SUITE")
    path = cleaned.get("checkout_path")
    if path and not Path(path).is_absolute():
        raise DomainError("A checkout path is absolute (or blank: Atom itself, or the run's worktree).", code="INVALID_SUITE")
    return cleaned


@transaction.atomic
def suite_create(*, name: str, **values: Any) -> Suite:
    """Register a suite; 409 when the name is taken."""
    cleaned = suite_validate({k: v for k, v in values.items() if k in SUITE_FIELDS})
    try:
        with transaction.atomic():
            return Suite.objects.create(name=name, **cleaned)
    except IntegrityError:
        raise DomainError(f"A suite named {name!r} exists.", code="SUITE_EXISTS", status=409) from None


@transaction.atomic
def suite_update(*, suite: Suite, **values: Any) -> Suite:
    """Change a suite's configuration (every field checked as at creation)."""
    cleaned = suite_validate({k: v for k, v in values.items() if k in SUITE_FIELDS})
    for name, value in cleaned.items():
        setattr(suite, name, value)
    suite.save()
    return suite
