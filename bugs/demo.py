"""Demo data: Atom's own bug catalog, loaded from bugs/catalog/atom_bugs.json (idempotent)."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from bugs.models import Bug, BugStatus, Category, Outcome, RegressionTest, Result, Run, RunStatus, Severity, Suite
from bugs.services.bugs import bug_create, bug_update, sla_hours_for
from bugs.services.status import bug_transition
from bugs.services.suites import suite_default
from bugs.validators import test_link_validate

CATALOG = Path(__file__).resolve().parent / "catalog" / "atom_bugs.json"
_CATALOG_FIELDS = ("category", "component", "description", "root_cause", "reproduction", "expected", "actual", "fix_strategy")


def catalog_load(path: Path = CATALOG) -> list[dict[str, Any]]:
    """The catalog entries: a JSON list of bugs with their tests and fix commits."""
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path.name} must hold a JSON list of bugs")
    return data


@transaction.atomic
def demo_data_seed(*, large: bool, stdout: TextIO) -> None:
    """Load Atom's own bug catalog and make sure the default suite exists; safe to run again.

    Bugs are created with their tests linked; a catalogued fix commit moves the bug to fixed, so the
    first regression run on a commit containing it resolves the bug. The catalog is real, never
    padded: ``large`` adds generated demo bugs and runs under keys of their own (demo_large_seed).
    """
    suite_default()
    created = 0
    for entry in catalog_load():
        fields = {k: entry[k] for k in _CATALOG_FIELDS if entry.get(k)}
        bug = Bug.objects.filter(key=entry["key"]).first()
        if bug is None:
            bug = bug_create(
                key=entry["key"], title=entry["title"], severity=Severity(entry["severity"]), reason="Atom's bug catalog.", **fields
            )
            created += 1
        else:
            bug = bug_update(bug=bug, **{k: v for k, v in fields.items() if getattr(bug, k) != v})
        for node_id in entry.get("tests", []):
            RegressionTest.objects.get_or_create(
                bug=bug, node_id=test_link_validate(node_id), defaults={"source": RegressionTest.Source.MANUAL}
            )
        fix_commit = entry.get("fix_commit", "")
        if fix_commit and bug.status in ("open", "in_progress", "reopened"):
            bug_transition(bug=bug, to_status="fixed", fix_commit=fix_commit, reason="Fix commit from Atom's bug catalog.", automatic=True)
    stdout.write(f"Bugs: catalog loaded ({created} new, {Bug.objects.count()} in total).\n")
    if large:
        bugs, runs = demo_large_seed(stdout=stdout)
        stdout.write(f"Bugs: large demo data ({bugs} generated bugs and {runs} runs new).\n")


# --- Large demo data (seed_demo --large) ----------------------------------------------------------

# Generated demo bugs take keys from here on, far above Atom's real catalog (BUG-001...), so the two never meet.
DEMO_KEY_START = 5000
DEMO_LARGE_BUGS = 3000
DEMO_LARGE_RUNS = 300
DEMO_RESULTS_PER_RUN = 20
DEMO_DAYS = 30
# Marks the generated runs, so a second seeding finds them.
DEMO_BRANCH = "demo/generated"
DEMO_TITLE_PREFIX = "[demo data]"
_BATCH = 1000
_SEVERITY_WEIGHTS = {Severity.P0: 5, Severity.P1: 20, Severity.P2: 45, Severity.P3: 30}
_STATUS_WEIGHTS = {
    BugStatus.OPEN: 35,
    BugStatus.IN_PROGRESS: 15,
    BugStatus.REOPENED: 5,
    BugStatus.FIXED: 10,
    BugStatus.RESOLVED: 25,
    BugStatus.WONT_FIX: 5,
    BugStatus.DOCUMENTED: 5,
}
CLOSED_UNVERIFIED = (BugStatus.WONT_FIX, BugStatus.DOCUMENTED)
_COMPONENTS = ("governance", "episodes", "bugs", "api", "admin", "worker")


def demo_keys(count: int) -> list[str]:
    """The keys of ``count`` generated demo bugs; refuses a range that would reach a key of the real catalog."""
    numbers = range(DEMO_KEY_START, DEMO_KEY_START + count)
    clash = {int(entry["key"].split("-", 1)[1]) for entry in catalog_load()} & set(numbers)
    if clash:
        raise ValueError(f"Demo keys would collide with the real catalog: {sorted(clash)[:5]}")
    return [f"BUG-{number:03d}" for number in numbers]


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@transaction.atomic
def demo_large_seed(
    *, stdout: TextIO, bugs: int | None = None, runs: int | None = None, results_per_run: int | None = None
) -> tuple[int, int]:
    """Generated demo bugs and finished runs over the last DEMO_DAYS days, for the dashboard at scale.

    Bulk inserts in one transaction, a bounded number of queries whatever the sizes; idempotent: only
    missing demo keys and runs are created. Every row obeys the status rules: fixed and resolved bugs
    carry a fix commit, resolved ones a passing result of a generated run. Sizes default to the
    DEMO_LARGE_* constants. Returns (bugs, runs) created.
    """
    bugs = DEMO_LARGE_BUGS if bugs is None else bugs
    runs = DEMO_LARGE_RUNS if runs is None else runs
    results_per_run = DEMO_RESULTS_PER_RUN if results_per_run is None else results_per_run
    suite = suite_default()
    now = timezone.now()
    keys = demo_keys(bugs)
    wanted_shas = {_sha(f"demo-run-{index}"): index for index in range(runs)}
    existing_shas = set(Run.objects.filter(branch=DEMO_BRANCH).values_list("commit_sha", flat=True))
    missing_runs = [(sha, index) for sha, index in wanted_shas.items() if sha not in existing_shas]
    existing_keys = set(Bug.objects.filter(key__in=keys).values_list("key", flat=True))
    missing_keys = [key for key in keys if key not in existing_keys]
    with tqdm(total=len(missing_runs) + len(missing_keys), desc="bugs", unit="row", file=stdout, mininterval=0.5) as bar:
        new_runs = _demo_runs_create(suite=suite, missing=missing_runs, total=runs, results_per_run=results_per_run, now=now)
        bar.update(len(new_runs))
        passing = list(
            Result.objects.filter(run__branch=DEMO_BRANCH, outcome=Outcome.PASSED)
            .order_by("pk")
            .values_list("pk", "run__commit_sha")[:_BATCH]
        )
        sla = {severity: sla_hours_for(severity) for severity in Severity.values}
        for start in range(0, len(missing_keys), _BATCH):
            chunk = missing_keys[start : start + _BATCH]
            project_id = suite.project_id  # named once: the field's default would look the project up per row
            created = Bug.objects.bulk_create(
                [_demo_bug(key=key, sla=sla, passing=passing, now=now, project_id=project_id) for key in chunk], batch_size=_BATCH
            )
            _demo_bug_times(created, sla=sla, now=now)
            bar.update(len(chunk))
    return len(missing_keys), len(new_runs)


def _demo_runs_create(*, suite: Suite, missing: list[tuple[str, int]], total: int, results_per_run: int, now: datetime) -> list[Run]:
    runs: list[Run] = []
    outcomes: list[list[Outcome]] = []
    started: list[datetime] = []
    for sha, index in missing:
        rng = random.Random(f"run-{index}")  # noqa: S311  # nosec B311 - demo data, not security
        # Spread oldest to newest over the window; the pass rate drifts up with noise so the chart has a shape.
        finished = now - timedelta(days=DEMO_DAYS) + timedelta(days=DEMO_DAYS * (index + 1) / (total + 1))
        rate = min(1.0, max(0.2, 0.55 + 0.4 * index / max(total, 1) + rng.uniform(-0.25, 0.2)))
        run_outcomes = [
            Outcome.PASSED if rng.random() < rate else (Outcome.ERROR if rng.random() < 0.1 else Outcome.FAILED)
            for _ in range(results_per_run)
        ]
        passed = run_outcomes.count(Outcome.PASSED)
        errors = run_outcomes.count(Outcome.ERROR)
        duration = rng.uniform(20, 300)
        runs.append(
            Run(
                suite=suite,
                status=RunStatus.PASSED if passed == results_per_run else RunStatus.FAILED,
                trigger=Run.Trigger.SCHEDULE,
                commit_sha=sha,
                branch=DEMO_BRANCH,
                total=results_per_run,
                done=results_per_run,
                passed=passed,
                failed=results_per_run - passed - errors,
                errors=errors,
                duration_seconds=duration,
                started_at=finished - timedelta(seconds=duration),
                finished_at=finished,
            )
        )
        outcomes.append(run_outcomes)
        started.append(finished - timedelta(seconds=duration))
    # Ids ascend with time, as for real runs, so the dashboard's "last runs" are the latest ones.
    Run.objects.bulk_create(runs, batch_size=_BATCH)
    for run, at in zip(runs, started, strict=True):
        run.created_at = at
    Run.objects.bulk_update(runs, ["created_at"], batch_size=_BATCH)
    results = [
        Result(run=run, node_id=f"demo/test_generated.py::test_case_{number}", outcome=outcome, duration_seconds=0.05)
        for run, run_outcomes in zip(runs, outcomes, strict=True)
        for number, outcome in enumerate(run_outcomes)
    ]
    Result.objects.bulk_create(results, batch_size=_BATCH)
    return runs


def _demo_bug_times(bugs: list[Bug], *, sla: dict[str, int], now: datetime) -> None:
    # bulk_create stamps "now" on created_at and updated_at; the dashboard dates a bug closed without a
    # verifying run by its last update, so give each bug the times its story implies.
    for bug in bugs:
        bug.created_at = bug.discovered_at
        closed_at = min(now, bug.discovered_at + timedelta(hours=sla[bug.severity] / 2))
        bug.updated_at = bug.resolved_at or (closed_at if bug.status in CLOSED_UNVERIFIED else bug.discovered_at)
    Bug.objects.bulk_update(bugs, ["created_at", "updated_at"], batch_size=_BATCH)


def _demo_bug(*, key: str, sla: dict[str, int], passing: list[tuple[int, str]], now: datetime, project_id: int | None) -> Bug:
    number = int(key.split("-", 1)[1])
    rng = random.Random(key)  # noqa: S311  # nosec B311 - demo data, not security
    severity = _pick(rng, _SEVERITY_WEIGHTS)
    status = _pick(rng, _STATUS_WEIGHTS)
    category = rng.choice(Category.values)
    component = rng.choice(_COMPONENTS)
    discovered = now - timedelta(seconds=rng.uniform(3600, DEMO_DAYS * 86400))
    if status == BugStatus.RESOLVED and not passing:
        status = BugStatus.FIXED
    bug = Bug(
        key=key,
        project_id=project_id,
        title=f"{DEMO_TITLE_PREFIX} Generated {category} bug #{number} in {component}",
        severity=severity,
        category=category,
        status=status,
        component=component,
        description="Generated by seed_demo --large to exercise the dashboard at scale; not a real defect.",
        discovered_at=discovered,
        sla_due_at=discovered + timedelta(hours=sla[severity]),
        is_regression=status == BugStatus.REOPENED,
    )
    if status == BugStatus.FIXED:
        bug.fix_commit = _sha(f"demo-fix-{key}")
    if status == BugStatus.RESOLVED:
        # Verified by a passing result of a run on the fix's own commit, as the status rules require.
        result_pk, run_sha = passing[number % len(passing)]
        bug.verified_by_id = result_pk
        bug.fix_commit = run_sha
        bug.resolved_at = min(now, discovered + timedelta(hours=rng.uniform(0.3, 1.5) * sla[severity]))
    return bug
