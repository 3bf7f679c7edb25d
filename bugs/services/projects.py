"""Writes on projects: creation and edits under the repository rules, and linking a project's commits.

Every field is checked here, once, for the admin, the API and the commands alike: the repository by
``bugs.repos.repository_validate`` (no ``ext::``, no option injection, local paths only under the allowed
roots, no credentials in URLs), the branch by ``branch_validate``, and the credential by its NAME, which
must be configured (``ATOM_GIT_CREDENTIAL_<NAME>``). A secret is never read back from here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from atom.errors import ConflictError, DomainError
from bugs import repos
from bugs.models import Project, validate_one_line
from bugs.services.commits import LinkSummary, commits_link

logger = logging.getLogger("atom.bugs.projects")

PROJECT_FIELDS = ("name", "repository", "default_branch", "credential", "webhook_secret", "description")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CREDENTIAL = re.compile(r"^[A-Za-z0-9_]{1,64}$")
WEBHOOK_SECRET_MIN_LENGTH = 16


class ProjectFieldError(DomainError):
    """One field of a project refused; ``details["field"]`` names it (the admin shows it beside the field)."""

    code = "PROJECT_INVALID"


def _refuse(field: str, message: str, code: str = "PROJECT_INVALID") -> ProjectFieldError:
    return ProjectFieldError(message, code=code, details={"field": field})


def credential_names() -> list[str]:
    """The names of the configured git credentials (never their values)."""
    return sorted(settings.ATOM_GIT_CREDENTIALS)


def _clean(field: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if field == "repository":
        try:
            return repos.repository_validate(text)
        except repos.RepositoryError as exc:
            raise _refuse(field, exc.message, exc.code) from exc
    if field == "default_branch":
        try:
            return repos.branch_validate(text)
        except repos.RepositoryError as exc:
            raise _refuse(field, exc.message, exc.code) from exc
    if field == "credential":
        text = text.strip()
        if not text:
            return ""
        if not _CREDENTIAL.match(text) or text.lower() not in settings.ATOM_GIT_CREDENTIALS:
            raise _refuse(
                field,
                f"No git credential named {text[:64]!r} is configured (set ATOM_GIT_CREDENTIAL_{text[:64].upper()} on the server).",
                "CREDENTIAL_UNKNOWN",
            )
        return text.lower()
    if field == "webhook_secret":
        if text and (len(text) < WEBHOOK_SECRET_MIN_LENGTH or len(text) > 200 or not text.isprintable()):
            raise _refuse(field, f"A webhook secret is {WEBHOOK_SECRET_MIN_LENGTH} to 200 printable characters.")
        return text
    if field == "name":
        text = text.strip()
        if not text or len(text) > 200:
            raise _refuse(field, "A project needs a name of at most 200 characters.")
    if field == "description" and len(text) > 300:
        raise _refuse(field, "A description is at most 300 characters.")
    try:
        validate_one_line(text)
    except Exception as exc:
        raise _refuse(field, "One line of text: no line breaks, tabs or other control characters.") from exc
    return text


def project_fields_clean(**fields: Any) -> dict[str, str]:
    """The fields as stored, each checked; the first refusal names its field."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    return {name: _clean(name, value) for name, value in fields.items()}


def slug_validate(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise _refuse("slug", "A slug is 1 to 64 lower-case letters, digits and hyphens, starting with a letter or digit.")
    return slug


@transaction.atomic
def project_create(*, slug: str, name: str, actor: Any = None, **fields: Any) -> Project:
    """Register a project. Nothing is fetched here: the worker clones the repository on first use."""
    slug = slug_validate(slug)
    values = project_fields_clean(name=name, **fields)
    if Project.objects.filter(slug=slug).exists():
        raise ConflictError(f"A project named {slug!r} already exists.", code="PROJECT_EXISTS")
    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, **values)
    except IntegrityError as exc:  # a concurrent create of the same slug
        raise ConflictError(f"A project named {slug!r} already exists.", code="PROJECT_EXISTS") from exc
    logger.info("Project %s created by %s", slug, getattr(actor, "username", None) or "the system")
    return project


@transaction.atomic
def project_update(*, project: Project, actor: Any = None, **changes: Any) -> Project:
    """Edit a project's fields; the slug never changes (it names the project in URLs and webhooks)."""
    values = project_fields_clean(**changes)
    project = Project.objects.select_for_update().get(pk=project.pk)
    for name, value in values.items():
        setattr(project, name, value)
    if values:
        project.save(update_fields=list(values))
    logger.info("Project %s changed by %s: %s", project.slug, getattr(actor, "username", None) or "the system", ", ".join(sorted(values)))
    return project


def project_commits_link(*, project: Project) -> LinkSummary:
    """Fetch the project's repository and link its default branch's ``Fixes BUG-N`` commits to its bugs.

    The outcome (when, and the error if any) is kept on the project so the admin shows a link that stopped
    working; the error is raised again for the caller.
    """
    try:
        mirror = repos.mirror_sync(project)
        summary = commits_link(repo=mirror, branch=project.default_branch, project=project)
    except DomainError as exc:
        Project.objects.filter(pk=project.pk).update(commits_linked_at=timezone.now(), commits_link_error=exc.message[:2000])
        raise
    Project.objects.filter(pk=project.pk).update(commits_linked_at=timezone.now(), commits_link_error="")
    return summary


def projects_link_all() -> dict[str, str]:
    """Periodic: link every project that has a repository; one project's failure never stops the others."""
    outcomes: dict[str, str] = {}
    for project in Project.objects.exclude(repository="").order_by("slug"):
        try:
            summary = project_commits_link(project=project)
        except DomainError as exc:
            logger.warning("Linking the commits of %s failed: %s", project.slug, exc.message)
            outcomes[project.slug] = f"error: {exc.message[:200]}"
            continue
        outcomes[project.slug] = f"{len(summary.fixed)} fixed, {len(summary.commit_set)} fix commit(s) set"
    return outcomes
