"""Links from code to bugs: ``Fixes BUG-007`` in commit messages, and ``regression`` markers in tests."""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404 - pytest runs from an argument list, never a shell
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from atom.errors import DomainError
from bugs import git
from bugs.envs import PLUGIN_MODULE
from bugs.models import Bug, BugStatus, Project, RegressionTest, Suite
from bugs.services.bugs import bug_update
from bugs.services.shards import pytest_env
from bugs.services.status import bug_status_refusal, bug_transition
from bugs.services.suites import suite_checkout
from bugs.validators import test_link_validate

FIX_TRAILER = re.compile(
    r"\b(?:fix(?:es|ed)?|close[sd]?|resolve[sd]?)\s*:?\s+((?:BUG-[0-9]+)(?:\s*(?:,|and)\s*BUG-[0-9]+)*)", re.IGNORECASE
)
_KEY = re.compile(r"BUG-[0-9]+", re.IGNORECASE)


@dataclass
class LinkSummary:
    """What ``link_commits`` did: bugs moved to fixed, fix commits set, keys nobody knows."""

    fixed: list[str] = field(default_factory=list)
    commit_set: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fixes_in(message: str) -> list[str]:
    """The bug keys a commit message says it fixes, closes or resolves."""
    keys: list[str] = []
    for match in FIX_TRAILER.finditer(message):
        keys.extend(k.upper() for k in _KEY.findall(match.group(1)) if k.upper() not in keys)
    return keys


def commits_link(*, repo: Path, branch: str | None = None, project: Project | None = None) -> LinkSummary:
    """Read the default branch's history and set each mentioned bug's fix commit, moving it to fixed.

    The newest commit that names a bug is its fix. Running it again changes nothing. Bugs that are
    already resolved keep their status; a P0/P1 bug without a linked test keeps its status too (the
    rules refuse "fixed" without a test) and is reported. With a project, only that project's bugs are
    linked (see :func:`commit_messages_link`).
    """
    try:
        commits = git.log(repo, branch=branch or git.default_branch(repo))
    except git.GitError as exc:
        raise DomainError(f"Cannot read the git history: {exc}", code="GIT_ERROR") from exc
    return commit_messages_link(commits=commits, project=project)


def commit_messages_link(*, commits: Iterable[git.Commit], project: Project | None = None) -> LinkSummary:
    """Link the bugs named by these commits (newest first) to their fix commit.

    With a project, a key that names a bug of another project changes nothing and is reported by name:
    keys are global, but a commit of one repository never fixes another project's bug.
    """
    newest: dict[str, str] = {}
    for commit in commits:
        for key in fixes_in(commit.message):
            newest.setdefault(key, commit.sha)
    summary = LinkSummary()
    found = {b.key: b for b in Bug.objects.filter(key__in=newest).select_related("project")}
    summary.unknown = sorted(set(newest) - set(found))
    for key, sha in sorted(newest.items()):
        bug = found.get(key)
        if bug is None:
            continue
        if project is not None and bug.project_id != project.pk:
            summary.warnings.append(
                f"{key} belongs to the project {bug.project.slug!r}, not {project.slug!r}: commit {sha[:12]} is not linked to it."
            )
            continue
        with transaction.atomic():
            _link_one(bug, sha, summary)
    return summary


def _link_one(bug: Bug, sha: str, summary: LinkSummary) -> None:
    if bug.status in (BugStatus.RESOLVED, BugStatus.FIXED) and bug.fix_commit == sha:
        return
    if bug.status in (BugStatus.RESOLVED, BugStatus.DUPLICATE, BugStatus.WONT_FIX):
        return
    reason = f"Commit {sha[:12]} says it fixes {bug.key}."
    refusal = bug_status_refusal(bug=bug, to_status=BugStatus.FIXED, fix_commit=sha) if bug.status != BugStatus.FIXED else None
    if refusal:
        if bug.fix_commit != sha:
            bug_update(bug=bug, fix_commit=sha)
            summary.commit_set.append(bug.key)
        summary.warnings.append(f"{bug.key}: fix commit recorded, status stays {bug.status}: {refusal}")
        return
    if bug.status == BugStatus.FIXED:
        bug_update(bug=bug, fix_commit=sha)
        summary.commit_set.append(bug.key)
        return
    bug_transition(bug=bug, to_status=BugStatus.FIXED, fix_commit=sha, reason=reason, automatic=True)
    summary.fixed.append(bug.key)


@dataclass
class SyncSummary:
    """What ``sync_regression_tests`` did; ``unknown`` maps node ids to bug keys that do not exist."""

    linked: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    unknown: dict[str, list[str]] = field(default_factory=dict)
    collected: int = 0


def regression_markers_collect(*, suite: Suite, timeout: int = 600) -> dict[str, list[str]]:
    """Collect the suite (no test runs) and return ``{node_id: [bug keys]}`` of its regression markers."""
    checkout = suite_checkout(suite)
    if not checkout.is_dir():
        raise DomainError(f"The suite's checkout {checkout} does not exist.", code="SUITE_MISSING")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "markers.json"
        argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", *[str(a) for a in suite.pytest_args or []]]
        argv += ["-p", PLUGIN_MODULE, "-p", "no:cacheprovider", f"--atom-collect-regressions={out}"]
        completed = subprocess.run(argv, cwd=checkout, env=pytest_env(suite), capture_output=True, text=True, timeout=timeout, check=False)  # nosec B603  # noqa: S603
        if completed.returncode not in (0, 5) or not out.exists():
            raise DomainError(
                f"Collecting the suite failed (exit {completed.returncode}):\n{completed.stdout[-2000:]}", code="COLLECT_FAILED"
            )
        data = json.loads(out.read_text())
    return {str(k): [str(x).upper() for x in v] for k, v in data.items()}


@transaction.atomic
def regression_tests_sync(*, suite: Suite, markers: dict[str, list[str]]) -> SyncSummary:
    """Make the marker links equal the markers: add the new ones, drop the ones no test declares any more.

    Links made by hand or by an import are left alone. Unknown bug keys are reported, not created.
    """
    summary = SyncSummary(collected=len(markers))
    wanted: set[tuple[str, str]] = set()
    for node_id, keys in markers.items():
        for key in keys:
            wanted.add((key, test_link_validate(node_id)))
    bugs = {b.key: b for b in Bug.objects.filter(key__in={k for k, _ in wanted})}
    for key, node_id in sorted(wanted):
        if key not in bugs:
            summary.unknown.setdefault(node_id, []).append(key)
            continue
        _, created = RegressionTest.objects.get_or_create(bug=bugs[key], node_id=node_id, defaults={"source": RegressionTest.Source.MARKER})
        if created:
            summary.linked.append((key, node_id))
    for link in RegressionTest.objects.filter(source=RegressionTest.Source.MARKER).select_related("bug"):
        if (link.bug.key, link.node_id) not in wanted:
            summary.removed.append((link.bug.key, link.node_id))
            link.delete()
    return summary
