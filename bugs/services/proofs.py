"""Proof that a linked test catches its bug: it fails at the parent of the first fix commit and passes at the fix.

For each bug with a fix commit and linked tests, the fix commits are every commit of the project's default
branch whose message says it fixes the bug (``Fixes BUG-7``), and the bug's own fix commit; the test runs
at the parent of the oldest of them (before any part of the fix) and at the bug's fix commit, each in a
worktree of its own (``bugs.repos.run_worktree``), under the suite's interpreter (``bugs.envs``).

At the parent, the test files and the shared test helpers (``ATOM_PROOF_HELPERS``) are taken from the fix
commit: the test as it was written for the fix runs against the code before it. A test file that did not
exist at the parent is brought in that way too, and the detail says so.

The verdict of each linked test:

- ``yes``: it fails (or errors, or its file does not import) at the parent and passes at the fix;
- ``no``: it passes at the parent: it does not catch its bug, and the bug cannot be resolved on it;
- ``unproven``: anything Atom cannot decide here: a test known only from an imported report (not a pytest
  node id), no fix commit, a fix in the root commit, a test file missing at the fix commit (it moved since),
  a test that does not pass at the fix, or does not run at the parent (skipped, not collected).

Bugs sharing the same parent and fix (one commit fixing several bugs) run together; groups run in parallel
threads (``ATOM_PROOF_WORKERS``), each driving its own pytest processes.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import subprocess  # nosec B404 - pytest runs from an argument list, never a shell
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from atom.errors import DomainError
from bugs import git, repos
from bugs.envs import PLUGIN_MODULE, suite_python
from bugs.models import Bug, Project, ProofVerdict, RegressionTest, Suite
from bugs.services.commits import fixes_in
from bugs.services.shards import pytest_env
from bugs.services.suites import suite_default
from bugs.validators import is_node_id

logger = logging.getLogger("bugs.proofs")

FAILING = ("failed", "error")


@dataclass(frozen=True)
class Verdict:
    node_id: str
    verdict: str
    parent: str = ""
    fix: str = ""
    detail: str = ""


@dataclass
class _Group:
    """The tests of every bug that shares one parent and one fix: one pytest run at each."""

    project: Project
    suite: Suite
    parent: str
    fix: str
    head: str = ""
    node_ids: set[str] = field(default_factory=set)


# --- which commits --------------------------------------------------------------------------------------


def _branch(project: Project) -> str:
    """The default branch, or HEAD when the repository has no such branch (a CI checkout of Atom itself)."""
    try:
        repos.commit_resolve(project, project.default_branch)
    except repos.RepositoryError:
        return "HEAD"
    return project.default_branch


def fix_commits(*, project: Project, key: str, fix_commit: str) -> list[str]:
    """Every commit of the default branch that says it fixes ``key``, oldest first, with the bug's own fix
    commit (resolved to its full hash) when the messages do not name it."""
    try:
        history = git.log(repos.mirror_path(project), branch=_branch(project))
    except git.GitError as exc:
        raise repos.RepositoryError(f"Cannot read the history of {project.slug}: {exc}") from exc
    found = [c.sha for c in reversed(history) if key in fixes_in(c.message)]
    if fix_commit:
        full = repos.commit_resolve(project, fix_commit)
        if full not in found:
            order = {c.sha: i for i, c in enumerate(reversed(history))}
            found.append(full)
            found.sort(key=lambda sha: order.get(sha, len(order)))
    return found


def _parent(project: Project, sha: str) -> str | None:
    try:
        return repos.commit_resolve(project, f"{sha}^")
    except repos.RepositoryError:
        return None


# --- one pytest run at one commit -----------------------------------------------------------------------


@dataclass
class _Outcomes:
    """What one pytest run at one commit said about each test, and about the files it could not collect."""

    tests: dict[str, tuple[str, str]] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    absent_files: set[str] = field(default_factory=set)
    brought: set[str] = field(default_factory=set)
    error: str = ""
    overlay_is_head: bool = False


def _show(project: Project, commit: str, path: str) -> bytes | None:
    """A file as it is at a commit, or None when the commit has no such file."""
    try:
        completed = subprocess.run(  # noqa: S603  # nosec B603 B607 - fixed git command, argument list
            ["git", "-C", str(repos.mirror_path(project)), "show", f"{commit}:{path}"],  # noqa: S607
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


def _helpers(project: Project, commit: str) -> list[str]:
    """The shared test helpers of the commit (``ATOM_PROOF_HELPERS`` globs), and every conftest.py."""
    names = repos.git_run(project, "-C", str(repos.mirror_path(project)), "ls-tree", "-r", "--name-only", commit).split("\n")
    patterns = list(settings.ATOM_PROOF_HELPERS)
    return [n for n in names if n and (n.endswith("conftest.py") or any(fnmatch.fnmatchcase(n, p) for p in patterns))]


def _selection_free(args: Iterable[str]) -> list[str]:
    """The suite's pytest arguments without its test selection (-m, -k): a proof runs the tests it names."""
    kept, skip = [], False
    for arg in (str(a) for a in args):
        if skip:
            skip = False
            continue
        if arg in ("-m", "-k"):
            skip = True
            continue
        if arg.startswith(("-m=", "-k=")) or (len(arg) > 2 and arg[:2] in ("-m", "-k") and not arg.startswith("--")):
            continue
        kept.append(arg)
    return kept


def _collect_errors(report_log: Path) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not report_log.exists():
        return errors
    for line in report_log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("$report_type") == "CollectReport" and record.get("outcome") == "failed":
            longrepr = record.get("longrepr")
            text = longrepr if isinstance(longrepr, str) else json.dumps(longrepr)[:2000]
            errors[str(record.get("nodeid", ""))] = text.strip().splitlines()[-1][:300] if text.strip() else "collection failed"
    return errors


def _run_at(
    *, project: Project, suite: Suite, commit: str, node_ids: list[str], overlay_from: str | None, python: str | None = None
) -> _Outcomes:
    """Run the tests at ``commit`` in a private worktree; with ``overlay_from``, their files and the shared
    helpers come from that commit first."""
    from bugs.report_log import parse_report_log

    outcomes = _Outcomes()
    files = sorted({n.split("::")[0] for n in node_ids})
    with repos.run_worktree(project, commit) as tree:
        if overlay_from:
            for name in [*files, *_helpers(project, overlay_from)]:
                content = _show(project, overlay_from, name)
                if content is None:
                    continue
                target = tree / name
                if not target.exists() and name in files:
                    outcomes.brought.add(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        outcomes.absent_files = {name for name in files if not (tree / name).is_file()}
        runnable = [n for n in node_ids if n.split("::")[0] not in outcomes.absent_files]
        if not project.repository and (Path(settings.BASE_DIR) / ".venv").is_dir() and not (tree / ".venv").exists():
            (tree / ".venv").symlink_to(Path(settings.BASE_DIR) / ".venv")  # Atom's own tests call its venv by path
        if not runnable:
            return outcomes
        with tempfile.TemporaryDirectory(prefix="atom-proof-") as scratch:
            out = Path(scratch)
            report_log = out / "report.jsonl"
            (out / "tests.txt").write_text("".join(f"{n}\n" for n in runnable))
            try:
                interpreter = python or suite_python(suite, tree)
            except DomainError as exc:
                outcomes.error = exc.message
                return outcomes
            argv = [interpreter, "-m", "pytest", *_selection_free(suite.pytest_args or [])]
            argv += ["-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "-q"]
            if (suite.environment or {}).get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
                argv += ["-p", "pytest_reportlog.plugin"]
            argv += [f"--report-log={report_log}", f"@{out / 'tests.txt'}"]
            env = pytest_env(suite)
            try:
                completed = subprocess.run(  # noqa: S603  # nosec B603 - argument list, validated node ids
                    argv, cwd=tree, env=env, capture_output=True, text=True, timeout=suite.timeout_seconds, check=False
                )
            except subprocess.TimeoutExpired:
                outcomes.error = f"pytest did not finish within the suite's {suite.timeout_seconds} s"
                return outcomes
            outcomes.collect_errors = _collect_errors(report_log)
            if report_log.exists():
                with open(report_log, "rb") as lines:
                    try:
                        for parsed in parse_report_log(lines):
                            outcomes.tests[parsed.node_id] = (parsed.outcome, (parsed.message or "").strip()[:300])
                    except DomainError as exc:
                        outcomes.error = exc.message
            if completed.returncode not in (0, 1) and not outcomes.tests and not outcomes.collect_errors:
                tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
                outcomes.error = f"pytest exited with code {completed.returncode}: {' '.join(tail)[:500]}"
    return outcomes


def _at(outcomes: _Outcomes, node_id: str) -> tuple[str, str]:
    """(outcome, why) of one test in one run: its result (a parametrized test or a class: the worst of its
    cases, passed when none fails and one passes), its file's collection error, or why it has none."""
    file = node_id.split("::")[0]
    cases = [v for k, v in outcomes.tests.items() if k == node_id or k.startswith((node_id + "[", node_id + "::"))]
    if cases:
        failing = [case for case in cases if case[0] in FAILING]
        if failing:
            return failing[0]
        if any(case[0] == "passed" for case in cases):
            return "passed", ""
        return cases[0]
    if file in outcomes.absent_files:
        return "absent", f"its file {file} is not there"
    for nodeid, message in outcomes.collect_errors.items():
        if nodeid == file or nodeid.startswith(file + "::") or not nodeid:
            return "error", f"its file does not import: {message}"
    if outcomes.error and "not found" not in outcomes.error:
        return "none", outcomes.error
    return "none", "its file has no such test there (renamed, moved or added later)"


def _verdict(node_id: str, *, parent: str, fix: str, at_parent: _Outcomes, at_fix: _Outcomes, note: str = "") -> Verdict:
    p, f = parent[:7], fix[:7]
    return _noted(_decide(node_id, parent=parent, fix=fix, at_parent=at_parent, at_fix=at_fix, p=p, f=f), note)


def _noted(verdict: Verdict, note: str) -> Verdict:
    return Verdict(verdict.node_id, verdict.verdict, verdict.parent, verdict.fix, verdict.detail + note) if note else verdict


def _decide(node_id: str, *, parent: str, fix: str, at_parent: _Outcomes, at_fix: _Outcomes, p: str, f: str) -> Verdict:
    fix_outcome, fix_why = _at(at_fix, node_id)
    if fix_outcome in ("absent", "none"):
        why = f"unproven: not at the fix {f}: {fix_why}"
        return Verdict(node_id, ProofVerdict.UNPROVEN, parent, fix, why)
    if fix_outcome != "passed":
        why = f"{fix_outcome}" + (f": {fix_why}" if fix_why else "")
        return Verdict(node_id, ProofVerdict.UNPROVEN, parent, fix, f"unproven: does not pass at the fix {f} ({why})")
    parent_outcome, parent_why = _at(at_parent, node_id)
    brought = (
        " (test file brought from the fix commit)" if node_id.split("::")[0] in at_parent.brought and not at_parent.overlay_is_head else ""
    )
    if parent_outcome in FAILING:
        return Verdict(node_id, ProofVerdict.YES, parent, fix, f"catches its bug: yes (fails at {p}, passes at {f}){brought}")
    if parent_outcome == "passed":
        return Verdict(node_id, ProofVerdict.NO, parent, fix, f"no: passes at the parent {p}{brought}")
    why = parent_outcome + (f": {parent_why}" if parent_why else "")
    return Verdict(node_id, ProofVerdict.UNPROVEN, parent, fix, f"unproven: does not run at the parent {p} ({why})")


# --- the whole proof --------------------------------------------------------------------------------------


def proof_suite(project: Project) -> Suite | None:
    """The suite a project's tests run in: its first suite by name (Atom's own project: the default suite)."""
    suite = Suite.objects.filter(project=project).order_by("name").first()
    if suite is None and not project.repository:
        return suite_default()
    return suite


_Key = tuple[int, str, str]


def _plan(bugs: Iterable[Bug]) -> tuple[dict[_Key, _Group], list[tuple[Bug, str, _Key]], list[tuple[Bug, Verdict]]]:
    """Group each bug's runnable tests by (project, parent, fix); decide at once what cannot run."""
    groups: dict[_Key, _Group] = {}
    members: list[tuple[Bug, str, _Key]] = []
    decided: list[tuple[Bug, Verdict]] = []
    synced: set[int] = set()
    heads: dict[int, str] = {}
    for bug in bugs:
        links = list(bug.regression_tests.order_by("node_id").values_list("node_id", flat=True))
        project = bug.project

        def unproven(why: str, fix: str = "", parent: str = "", bug: Bug = bug, links: list[str] = links) -> None:
            decided.extend((bug, Verdict(n, ProofVerdict.UNPROVEN, parent, fix, f"unproven: {why}")) for n in links)

        if not bug.fix_commit:
            unproven("the bug has no fix commit")
            continue
        suite = proof_suite(project)
        if suite is None:
            unproven(f"the project {project.slug} has no suite to run its tests in")
            continue
        try:
            if project.pk not in synced:
                repos.mirror_sync(project)
                synced.add(project.pk)
            commits = fix_commits(project=project, key=bug.key, fix_commit=bug.fix_commit)
        except DomainError as exc:
            unproven(exc.message)
            continue
        fix = repos.commit_resolve(project, bug.fix_commit)
        parent = _parent(project, commits[0])
        if parent is None:
            unproven(f"the first fix commit {commits[0][:7]} is the root commit: nothing before it to run", fix)
            continue
        for node_id in links:
            if not is_node_id(node_id):
                why = "unproven: not a pytest test (known only from an imported report)"
                decided.append((bug, Verdict(node_id, ProofVerdict.UNPROVEN, parent, fix, why)))
                continue
            key = (project.pk, parent, fix)
            head = heads.setdefault(project.pk, repos.commit_resolve(project, _branch(project)))
            groups.setdefault(key, _Group(project=project, suite=suite, parent=parent, fix=fix, head=head)).node_ids.add(node_id)
            members.append((bug, node_id, key))
    return groups, members, decided


def _prove_group(group: _Group) -> dict[str, Verdict]:
    """Run the group's tests at the fix and at the parent (with the fix's test files). A test the fix commit
    does not have (renamed, moved or added since) runs again on both sides with its file as it is on the
    default branch's head, and its verdict says so."""
    try:
        node_ids = sorted(group.node_ids)
        at_fix = _run_at(project=group.project, suite=group.suite, commit=group.fix, node_ids=node_ids, overlay_from=None)
        at_parent = _run_at(project=group.project, suite=group.suite, commit=group.parent, node_ids=node_ids, overlay_from=group.fix)
        verdicts = {n: _verdict(n, parent=group.parent, fix=group.fix, at_parent=at_parent, at_fix=at_fix) for n in node_ids}
        moved = [n for n in node_ids if _at(at_fix, n)[0] in ("absent", "none")]
        if moved and group.head and group.head != group.fix:
            project, suite, head = group.project, group.suite, group.head
            fix_head = _run_at(project=project, suite=suite, commit=group.fix, node_ids=moved, overlay_from=head)
            parent_head = _run_at(project=project, suite=suite, commit=group.parent, node_ids=moved, overlay_from=head)
            parent_head.overlay_is_head = True
            note = f" (the test is not at the fix commit: its file taken from {group.head[:7]})"
            for n in moved:
                verdicts[n] = _verdict(n, parent=group.parent, fix=group.fix, at_parent=parent_head, at_fix=fix_head, note=note)
        return verdicts
    except DomainError as exc:
        return {n: Verdict(n, ProofVerdict.UNPROVEN, group.parent, group.fix, f"unproven: {exc.message}") for n in group.node_ids}


def _prove_group_in_thread(group: _Group) -> dict[str, Verdict]:
    """``_prove_group`` in a pool thread, which closes the database connection it may have opened (an
    environment build writes its log)."""
    try:
        return _prove_group(group)
    finally:
        connection.close()


def regressions_prove(*, bugs: Iterable[Bug], workers: int | None = None) -> list[tuple[Bug, Verdict]]:
    """Prove every linked test of the bugs and store each verdict on its link; the verdicts, per bug.

    ``workers`` groups run at once (default ``ATOM_PROOF_WORKERS``); 1 runs them in this thread.
    """
    bugs = list(bugs)
    groups, members, verdicts = _plan(bugs)
    workers = max(1, workers or settings.ATOM_PROOF_WORKERS)
    ordered = list(groups.values())
    if workers == 1 or len(ordered) <= 1:
        results = [_prove_group(g) for g in ordered]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="atom-proof") as pool:
            results = list(pool.map(_prove_group_in_thread, ordered))
    by_group = dict(zip(groups, results, strict=True))
    verdicts += [(bug, by_group[key][node_id]) for bug, node_id, key in members]
    verdicts = _cases_of_one_test(verdicts)
    now = timezone.now()
    for bug, verdict in verdicts:
        RegressionTest.objects.filter(bug=bug, node_id=verdict.node_id).update(
            proof_verdict=verdict.verdict,
            proof_parent=verdict.parent,
            proof_fix=verdict.fix,
            proof_detail=verdict.detail[:5000],
            proved_at=now,
        )
    order = {b.pk: i for i, b in enumerate(bugs)}
    verdicts.sort(key=lambda item: (order[item[0].pk], item[1].node_id))
    return verdicts


def _cases_of_one_test(verdicts: list[tuple[Bug, Verdict]]) -> list[tuple[Bug, Verdict]]:
    """The linked cases of one parametrized test (``test_x[a]``, ``test_x[b]``) are one regression test: it
    catches its bug when one of its cases does. A case passing at the parent while another case of the
    same test fails there is part of a test that catches its bug, and says so."""
    cases: dict[tuple[int, str], list[int]] = {}
    for index, (bug, verdict) in enumerate(verdicts):
        if "[" in verdict.node_id:
            cases.setdefault((bug.pk, verdict.node_id.split("[", 1)[0]), []).append(index)
    for (_bug_id, test), indexes in cases.items():
        caught = [i for i in indexes if verdicts[i][1].verdict == ProofVerdict.YES]
        if not caught or len(indexes) < 2:
            continue
        share = f"{len(caught)} of {len(indexes)} linked cases of {test.split('::')[-1]} fail at the parent"
        for i in indexes:
            bug, verdict = verdicts[i]
            if verdict.verdict == ProofVerdict.NO:
                detail = f"catches its bug: yes, as a case of its test ({share}; this case passes there)"
                verdicts[i] = (bug, Verdict(verdict.node_id, ProofVerdict.YES, verdict.parent, verdict.fix, detail))
            elif verdict.verdict == ProofVerdict.YES:
                verdicts[i] = (bug, Verdict(verdict.node_id, verdict.verdict, verdict.parent, verdict.fix, f"{verdict.detail} ({share})"))
    return verdicts


def bugs_to_prove(*, keys: Iterable[str] = (), project: str | None = None) -> list[Bug]:
    """The bugs named (every one must exist), or every bug of the project (or of all projects) with a fix
    commit and a linked test."""
    from atom.errors import NotFoundError

    keys = list(keys)
    bugs = Bug.objects.select_related("project").order_by("key")
    if project:
        if not Project.objects.filter(slug=project).exists():
            raise NotFoundError(f"No project {project!r}.")
        bugs = bugs.filter(project__slug=project)
    if keys:
        found = list(bugs.filter(key__in=keys))
        missing = sorted(set(keys) - {b.key for b in found})
        if missing:
            raise NotFoundError(f"Unknown bugs: {', '.join(missing)}.", details={"keys": missing[:50]})
        return found
    return list(bugs.exclude(fix_commit="").filter(regression_tests__isnull=False).distinct())


def proof_enqueue(*, keys: list[str]) -> None:
    """Queue the proof of these bugs on a worker (after the transaction commits); 503 when the broker is down."""
    from kombu.exceptions import OperationalError

    from atom.celery import task_send
    from atom.errors import ServiceUnavailableError
    from bugs.tasks import prove_regressions_task

    try:
        task_send(lambda: prove_regressions_task.delay(keys), what=f"the proof of {', '.join(keys)}")
    except OperationalError as exc:
        raise ServiceUnavailableError("The task queue is unavailable; the proof was not started.") from exc
