"""manage.py verify_hardening: the hardening loop, run on Atom itself with Atom's own machinery.

load the bug catalog -> link the repository's commits -> sync the regression markers -> prove that each
P0 and P1 regression test catches its bug (``prove_regressions``: it fails at the parent of the fix and
passes at the fix) -> run the regression suite through the real runner on a real Celery worker -> export
the report.

Fails when a P0/P1 regression test does not catch its bug (it passes before the fix), when a regression
test fails, when a P0 bug is not RESOLVED with a commit hash, or (with --check)
when docs/bug_triage_report.md is stale; --write refreshes that file instead. The loop keeps its own
records in a scratch SQLite database under var/verify, so it never touches the database it was started
with; the suite it runs gets the services of the calling environment (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import secrets
import shutil
import subprocess  # nosec B404 - fixed manage.py and celery commands, argument lists only
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

REPORT = Path("docs") / "bug_triage_report.md"
LOOP_ACTOR = "verify-loop"
SUITE_SERVICES = ("DATABASE_URL", "REDIS_URL", "ATOM_TEST_SERVICES")
# What changes on every run and is left out of the comparison: the header's times and durations, and
# the time and run number of each latest result.
_VOLATILE_LINES = ("Generated:", "Suite:")
_VOLATILE = (
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"), "<time>"),
    (re.compile(r"run #[0-9]+ at [0-9a-f]+"), "run at <head>"),
)
# The suite the loop runs gets the calling environment's services (the loop's own records stay local).
_SUITE_ENV_SNIPPET = """
import json, os
from bugs.services.suites import suite_default
suite = suite_default()
suite.environment = {**(suite.environment or {}), **json.loads(os.environ["ATOM_VERIFY_SUITE_ENV"])}
suite.save(update_fields=["environment"])
"""


def report_normalise(text: str) -> list[str]:
    """The report's lines without what changes on every run."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return [line for line in text.splitlines() if not line.startswith(_VOLATILE_LINES)]


def catalog_problems(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """P0 bugs not resolved with a commit, and bugs with a failing regression test, from the JSON report."""
    bugs = report["bugs"]
    unresolved = [b["key"] for b in bugs if b["severity"] == "P0" and not (b["status"] == "resolved" and b["fix_commit"])]
    failing = sorted({b["key"] for b in bugs for t in b["tests"] if (t["latest_result"] or {}).get("outcome") in ("failed", "error")})
    return unresolved, failing


class Command(BaseCommand):
    help = (
        "Run Atom's own hardening loop (catalog, commits, markers, the regression suite on a real worker, the report) "
        "and fail on a failing regression test, an unresolved P0, or (with --check) a stale docs/bug_triage_report.md."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="fail when docs/bug_triage_report.md differs from the new report")
        mode.add_argument("--write", action="store_true", help="refresh docs/bug_triage_report.md")
        parser.add_argument("--timeout", type=int, default=1500, help="seconds the regression run may take")

    def handle(self, *args: Any, check: bool, write: bool, timeout: int, **options: Any) -> None:
        base = Path(settings.BASE_DIR)
        work = base / "var" / "verify"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        env = self._loop_env(work)
        self._manage(env, "migrate", "--noinput", "-v", "0")
        # The state-changing commands act as a named user, checked like any other caller: the loop's own
        # superuser in this scratch database, with a password no one needs to know.
        self._manage({**env, "ATOM_ADMIN_PASSWORD": secrets.token_urlsafe(24)}, "ensure_admin", "--username", LOOP_ACTOR)
        self._manage(env, "seed_demo")
        self._manage(env, "shell", "-c", _SUITE_ENV_SNIPPET, skip_checks=False)
        self._manage(env, "sync_regression_tests")
        self._manage(env, "link_commits", "--repo", str(base))
        proof_status = self._manage(env, "prove_regressions", "--severity", "P0", "--severity", "P1", check=False)
        with open(work / "worker.log", "wb") as log:
            worker = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed celery command line
                [sys.executable, "-m", "celery", "-A", "atom", "worker", "--pool", "solo", "--queues", env["ATOM_CELERY_QUEUE"],
                 "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                run_status = self._manage(env, "run_regressions", "--wait", "--timeout", str(timeout), check=False)
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
        fresh = work / "bug_triage_report.md"
        self._manage(env, "export_triage", "--output", str(fresh))
        self._manage(env, "export_triage", "--format", "json", "--output", str(work / "bug_triage_report.json"))
        unresolved, failing = catalog_problems(json.loads((work / "bug_triage_report.json").read_text()))
        self.stdout.write(f"Catalog: P0 not resolved with a commit: {unresolved or 'none'}, failing regression tests: {failing or 'none'}")
        if write:
            shutil.copyfile(fresh, base / REPORT)
            self.stdout.write(f"{REPORT} refreshed")
        elif check:
            self._compare(base / REPORT, fresh)
        if unresolved or failing or run_status or proof_status:
            raise CommandError("The hardening loop failed: see the lines above.")

    def _loop_env(self, work: Path) -> dict[str, str]:
        """The loop's own environment: a scratch SQLite database and queue; the suite keeps the caller's services."""
        suite_env = {name: os.environ[name] for name in SUITE_SERVICES if name in os.environ}
        env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
        tag = f"verify-{os.getpid()}"
        env.update(
            ATOM_ENV="development",
            DJANGO_DEBUG="0",
            DJANGO_SETTINGS_MODULE="atom.settings",
            ATOM_VAR_DIR=str(work),
            ATOM_SQLITE_PATH=str(work / "atom.sqlite3"),
            ATOM_CELERY_QUEUE=tag,
            ATOM_CACHE_PREFIX=tag,
            ATOM_VERIFY_SUITE_ENV=json.dumps(suite_env),
            ATOM_COMMAND_ACTOR=LOOP_ACTOR,
        )
        return env

    def _manage(self, env: dict[str, str], *arguments: str, check: bool = True, skip_checks: bool = True) -> int:
        """Run one manage.py command in the loop's environment, its output shown as it comes."""
        self.stdout.flush()
        argv = [sys.executable, "manage.py", *arguments, *(["--skip-checks"] if skip_checks else [])]
        completed = subprocess.run(argv, cwd=settings.BASE_DIR, env=env, check=False)  # noqa: S603  # nosec B603 - fixed arguments
        if check and completed.returncode:
            raise CommandError(f"manage.py {arguments[0]} failed (exit {completed.returncode}).")
        return completed.returncode

    def _compare(self, committed: Path, fresh: Path) -> None:
        old = report_normalise(committed.read_text()) if committed.exists() else []
        new = report_normalise(fresh.read_text())
        if old != new:
            for line in difflib.unified_diff(old, new, str(committed), "new report", lineterm=""):
                self.stdout.write(line)
            raise CommandError(f"{REPORT} is stale: run 'make report' and commit it.")
