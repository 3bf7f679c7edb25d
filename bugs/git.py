"""Read-only questions to git, asked with argument lists and a timeout (never a shell)."""

from __future__ import annotations

import re
import subprocess  # nosec B404 - git runs from argument lists, never a shell
from dataclasses import dataclass
from pathlib import Path

_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_GIT_TIMEOUT = 30


class GitError(Exception):
    """git is missing, the path is not a repository, or git refused the question."""


def _git(repo: Path, *args: str) -> str:
    try:
        completed = subprocess.run(  # noqa: S603  # nosec B603 B607 - fixed git command, argument list
            ["git", "-C", str(repo), *args],  # noqa: S607 - git is looked up on PATH on purpose
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git could not run: {exc}") from exc
    if completed.returncode != 0:
        raise GitError(completed.stderr.strip() or f"git {args[0]} failed")
    return completed.stdout


def sha_normalize(value: str) -> str:
    """A commit hash as Atom stores it: trimmed and lower-case (git reads hashes in either case)."""
    return value.strip().lower()


def is_sha(value: str) -> bool:
    """Whether the value looks like a (possibly abbreviated) commit hash."""
    return bool(_SHA.match(value))


@dataclass(frozen=True)
class Head:
    commit_sha: str
    branch: str


def head_of(repo: Path) -> Head | None:
    """The checked-out commit and branch, or None when the path is not a git checkout."""
    try:
        sha = _git(repo, "rev-parse", "HEAD").strip()
        branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    except GitError:
        return None
    return Head(commit_sha=sha, branch="" if branch == "HEAD" else branch)


def contains(repo: Path | None, *, commit: str, ancestor: str) -> bool:
    """Whether ``commit`` contains ``ancestor`` (is it, or descends from it).

    Without usable history (no repository, unknown commits) only the same commit counts, compared as
    hash prefixes so that an abbreviated fix hash matches the full run hash.
    """
    if not commit or not ancestor or not is_sha(commit) or not is_sha(ancestor):
        return False
    a, b = commit.lower(), ancestor.lower()
    if a.startswith(b) or b.startswith(a):
        return True
    if repo is None:
        return False
    try:
        completed = subprocess.run(  # noqa: S603  # nosec B603 B607 - fixed git command, validated hashes
            ["git", "-C", str(repo), "merge-base", "--is-ancestor", ancestor, commit],  # noqa: S607
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str


def default_branch(repo: Path) -> str:
    """The remote's default branch when known, else main, master, or the current HEAD."""
    try:
        return _git(repo, "symbolic-ref", "--short", "refs/remotes/origin/HEAD").strip()
    except GitError:
        pass
    for candidate in ("main", "master"):
        try:
            _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{candidate}")
        except GitError:
            continue
        return candidate
    return "HEAD"


def log(repo: Path, *, branch: str) -> list[Commit]:
    """Every commit reachable from the branch, newest first, with its full message."""
    if branch.startswith("-"):
        raise GitError("a branch name cannot start with '-'")
    out = _git(repo, "log", "--format=%H%x1f%B%x1e", branch, "--")
    commits = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, _, message = record.partition("\x1f")
        commits.append(Commit(sha=sha.strip(), message=message))
    return commits
