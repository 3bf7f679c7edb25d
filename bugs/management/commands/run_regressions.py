"""manage.py run_regressions: queue a regression run; --wait follows it with a progress bar."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.models import FAILING_OUTCOMES, TERMINAL_RUN_STATUSES, BugResult, Run, RunStatus, Suite
from bugs.selectors import project_suites_to_run
from bugs.services.runs import run_trigger
from bugs.services.status import TEST_REQUIRED_SEVERITIES

EXIT_P0_P1_FAILED = 1
EXIT_RUN_BROKEN = 2


class Command(BaseCommand):
    help = (
        "Run the regression tests (of the given bugs, or the suite's selection) on a worker. With --wait, show a "
        "progress bar and exit 1 when a test linked to a P0/P1 bug fails, 2 when the run errors or times out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("--bug", action="append", default=[], metavar="KEY", help="run the tests linked to this bug (repeatable)")
        parser.add_argument("--suite", help="the suite to run (default: Atom's own)")
        parser.add_argument(
            "--project",
            metavar="SLUG",
            help="run this project's default suite (the one named like the project, or its only one), else every suite of it",
        )
        parser.add_argument("--shards", type=int, default=1, help="split the tests over this many workers")
        parser.add_argument("--commit", default="", metavar="REV", help="run at this branch, tag or commit of the suite's project")
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--timeout", type=float, default=3600, help="with --wait, give up after this many seconds")

    def handle(
        self, *args: Any, bug: list[str], suite: str | None, project: str | None, shards: int, wait: bool, timeout: float, **options: Any
    ) -> None:
        actor = command_actor(username=options.get("actor"), permissions=("bugs.run_regressions",))
        targets: list[Suite | None] = [None]
        if suite:
            named = Suite.objects.filter(name=suite).first()
            if named is None:
                raise CommandError(f"No suite named {suite!r}.")
            if project and named.project.slug != project:
                raise CommandError(f"The suite {suite!r} belongs to the project {named.project.slug!r}, not {project!r}.")
            targets = [named]
        elif project:
            try:
                targets = list(project_suites_to_run(slug=project))
            except DomainError as exc:
                raise CommandError(exc.message) from exc
        runs = []
        for target in targets:
            keys = [k.upper() for k in bug]
            try:
                run = run_trigger(
                    suite=target,
                    bug_keys=keys,
                    shards=shards,
                    trigger=Run.Trigger.CLI,
                    triggered_by=actor,
                    revision=options.get("commit") or "",
                )
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Run #{run.pk} queued ({len(run.node_ids) or 'the suite'} tests).")
            runs.append(run)
        if not wait:
            return
        code = max(self._report(self._follow(run, timeout)) for run in runs)
        if code:
            sys.exit(code)

    def _report(self, run: Run) -> int:
        """Print the run's outcome; the exit code it calls for (0, or EXIT_P0_P1_FAILED, or EXIT_RUN_BROKEN)."""
        self.stdout.write(
            f"Run #{run.pk} {run.status}: {run.passed} passed, {run.failed} failed, {run.errors} errors, {run.skipped} skipped."
        )
        failing_severe = BugResult.objects.filter(
            result__run=run, result__outcome__in=FAILING_OUTCOMES, bug__severity__in=TEST_REQUIRED_SEVERITIES
        ).values_list("bug__key", "result__node_id")
        for key, node_id in failing_severe:
            self.stderr.write(f"FAILED {node_id} ({key})")
        if failing_severe:
            return EXIT_P0_P1_FAILED
        if run.status in (RunStatus.ERROR, RunStatus.TIMED_OUT, RunStatus.CANCELLED):
            self.stderr.write(run.error_message or f"The run ended {run.status}.")
            return EXIT_RUN_BROKEN
        return 0

    def _follow(self, run: Run, timeout: float) -> Run:
        deadline = time.monotonic() + timeout
        with tqdm(total=run.total or None, unit="test", desc=f"run #{run.pk}", file=sys.stderr) as bar:
            while True:
                run.refresh_from_db()
                if run.total and bar.total != run.total:
                    bar.total = run.total
                bar.n = run.done
                bar.set_postfix_str(run.status)
                bar.refresh()
                if run.status in TERMINAL_RUN_STATUSES:
                    return run
                if time.monotonic() > deadline:
                    raise CommandError(f"Run #{run.pk} did not finish within {timeout:.0f} s (is a worker running?).")
                time.sleep(0.5)
