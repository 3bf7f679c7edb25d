"""A project's repository: which addresses Atom accepts, the worker's mirror of it, and run worktrees.

Every git command runs from an argument list with a timeout, with only the file, https and ssh
transports allowed (``GIT_ALLOW_PROTOCOL``: git's ``ext::`` and ``fd::`` can never run), no terminal
prompt, and a private repository's secret passed in git's environment, never in a URL, an argument or a
log line. The mirror is a bare clone under ``ATOM_PROJECTS_DIR/<slug>/``; it is made under a temporary
name and renamed, so a half-made clone is never used, and every command on it holds the project's lock.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import subprocess  # nosec B404 - git runs from argument lists, never a shell
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from atom.errors import DomainError
from bugs.models import Project

_TIMEOUT = 300
_SCHEMES = ("file", "https", "ssh")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")


class RepositoryError(DomainError):
    """A repository address Atom refuses, or git could not fetch or check out."""

    code = "REPOSITORY_ERROR"


def _refuse(message: str) -> RepositoryError:
    return RepositoryError(message, code="REPOSITORY_REFUSED")


def _under_allowed_root(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved == root.resolve() or resolved.is_relative_to(root.resolve()) for root in settings.ATOM_REPOSITORY_ROOTS)


def repository_validate(value: str) -> str:
    """The address as stored, or a refusal naming why: blank (Atom itself), an allowed local path, or a
    ``file://``, ``https://`` or ``ssh://`` URL without credentials in it."""
    value = value.strip()
    if not value:
        return ""
    if value.startswith("-"):
        raise _refuse("A repository cannot start with '-': git would read it as an option.")
    if _TRANSPORT.match(value):
        raise _refuse(f"git's '{value.split('::')[0]}::' transport is refused: use a file://, https:// or ssh:// URL.")
    if _CONTROL.search(value):
        raise _refuse("A repository address cannot hold spaces or control characters.")
    if "://" not in value:
        path = Path(value)
        if not path.is_absolute():
            raise _refuse("A local repository must be an absolute path, or a file://, https:// or ssh:// URL.")
        if not _under_allowed_root(path):
            raise _refuse(f"{value} is outside the allowed repository roots (ATOM_REPOSITORY_ROOTS).")
        return value
    parts = urlsplit(value)
    if parts.scheme not in _SCHEMES:
        raise _refuse(f"The {parts.scheme}:// scheme is refused: use file://, https:// or ssh://.")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _refuse("A file:// URL names a path on this machine, not a host.")
        if not _under_allowed_root(Path(parts.path)):
            raise _refuse(f"{parts.path} is outside the allowed repository roots (ATOM_REPOSITORY_ROOTS).")
        return value
    if not parts.hostname or parts.hostname.startswith("-"):
        raise _refuse("The repository URL names no valid host.")
    if parts.password is not None or (parts.scheme == "https" and parts.username is not None):
        raise _refuse("Credentials never go in a repository URL: name a secret of ATOM_GIT_CREDENTIALS instead.")
    return value


def branch_validate(value: str) -> str:
    """A branch name git accepts, never one that could be read as an option."""
    value = value.strip()
    if not value or value.startswith("-") or _CONTROL.search(value):
        raise _refuse("A branch name cannot be empty, start with '-', or hold spaces or control characters.")
    completed = subprocess.run(  # noqa: S603  # nosec B603 B607 - fixed git command, argument list
        ["git", "check-ref-format", "--branch", value],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if completed.returncode != 0:
        raise _refuse(f"{value!r} is not a valid branch name.")
    return value


def _secret(project: Project) -> str:
    if not project.credential:
        return ""
    try:
        return str(settings.ATOM_GIT_CREDENTIALS[project.credential.lower()])
    except KeyError:
        raise RepositoryError(
            f"The credential {project.credential!r} is not configured (ATOM_GIT_CREDENTIAL_{project.credential.upper()}).",
            code="REPOSITORY_CREDENTIAL_MISSING",
        ) from None


def _git_env(project: Project | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "ATOM_GIT_CREDENTIAL_"))}
    env.update(GIT_ALLOW_PROTOCOL=":".join(_SCHEMES), GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1")
    secret = _secret(project) if project is not None else ""
    if secret:
        basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader", GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
    return env


def git_run(project: Project | None, *args: str, cwd: Path | None = None, timeout: int = _TIMEOUT) -> str:
    """One git command under the project's restrictions; its output, or a RepositoryError without secrets."""
    try:
        completed = subprocess.run(  # noqa: S603  # nosec B603 B607 - fixed git command, argument list
            ["git", *args],  # noqa: S607 - git is looked up on PATH on purpose
            cwd=cwd,
            env=_git_env(project),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RepositoryError(f"git {args[0]} could not run: {exc}") from exc
    if completed.returncode != 0:
        message = completed.stderr.strip() or f"git {args[0]} failed with exit code {completed.returncode}"
        secret = _secret(project) if project is not None else ""
        raise RepositoryError((message.replace(secret, "***") if secret else message)[-2000:])
    return completed.stdout


def project_dir(project: Project) -> Path:
    return Path(settings.ATOM_PROJECTS_DIR) / project.slug


def mirror_path(project: Project) -> Path:
    """The repository the worker reads: Atom's own checkout for a project without a repository, else
    the bare mirror."""
    if not project.repository:
        return Path(settings.BASE_DIR)
    return project_dir(project) / "mirror.git"


@contextlib.contextmanager
def project_lock(project: Project) -> Iterator[None]:
    """One git writer per project on this machine (fetches and worktree changes)."""
    directory = project_dir(project)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mirror_sync(project: Project) -> Path:
    """Clone the project's repository on first use, fetch it afterwards; the path of the mirror."""
    if not project.repository:
        return mirror_path(project)
    source = repository_validate(project.repository)  # checked again: the row may predate a stricter rule
    mirror = mirror_path(project)
    with project_lock(project):
        if mirror.is_dir():
            git_run(project, "-C", str(mirror), "fetch", "--prune", "--quiet", "origin")
            return mirror
        partial = mirror.with_name(f".mirror-{uuid.uuid4().hex}.git")
        try:
            git_run(project, "clone", "--mirror", "--quiet", "--", source, str(partial))
            partial.rename(mirror)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return mirror


def commit_resolve(project: Project, revision: str) -> str:
    """The full hash of a revision of the project's repository (a branch, a hash, ``sha^``)."""
    if not revision or revision.startswith("-") or _CONTROL.search(revision):
        raise _refuse(f"{revision!r} is not a revision.")
    return git_run(project, "-C", str(mirror_path(project)), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()


@contextlib.contextmanager
def run_worktree(project: Project, commit: str) -> Iterator[Path]:
    """A checkout of the commit that no other run shares, removed afterwards whatever happens."""
    sha = commit_resolve(project, commit)
    repo = mirror_path(project)
    tree = project_dir(project) / "worktrees" / uuid.uuid4().hex
    tree.parent.mkdir(parents=True, exist_ok=True)
    with project_lock(project):
        git_run(project, "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(tree), sha)
    try:
        yield tree
    finally:
        with project_lock(project):
            with contextlib.suppress(RepositoryError):
                git_run(project, "-C", str(repo), "worktree", "remove", "--force", str(tree))
            shutil.rmtree(tree, ignore_errors=True)
            with contextlib.suppress(RepositoryError):
                git_run(project, "-C", str(repo), "worktree", "prune")
