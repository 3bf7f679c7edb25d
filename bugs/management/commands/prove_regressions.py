"""manage.py prove_regressions [KEY …] [--project SLUG]: prove that each linked test catches its bug."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.models import ProofVerdict, Severity
from bugs.services.proofs import bugs_to_prove, regressions_prove


class Command(BaseCommand):
    help = (
        "Run each linked test of the bugs (default: every bug with a fix commit and a test) at the parent of its first "
        "fix commit and at the fix, and store the verdict: yes (fails before, passes after), no (passes before), or "
        "unproven. Exit 1 when a test does not catch its bug (no); with --require-proven, also when a test of the "
        "given severities is unproven."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("keys", nargs="*", metavar="KEY", help="the bugs to prove (default: all with a fix commit and a test)")
        parser.add_argument("--project", metavar="SLUG", help="only this project's bugs")
        parser.add_argument(
            "--severity", action="append", default=[], choices=Severity.values, help="only bugs of this severity (repeatable)"
        )
        parser.add_argument("--workers", type=int, default=None, help="proofs run at once (default ATOM_PROOF_WORKERS)")
        parser.add_argument("--require-proven", action="store_true", help="exit 1 when a test of the selected bugs is not proven yes")

    def handle(self, *args: Any, keys: list[str], project: str | None, severity: list[str], workers: int | None, **options: Any) -> None:
        command_actor(username=options.get("actor"), permissions=("bugs.prove_regressions",))
        if workers is not None and workers < 1:
            raise CommandError("--workers is at least 1.")
        started = time.monotonic()
        try:
            bugs = bugs_to_prove(keys=[k.upper() for k in keys], project=project)
            if severity:
                bugs = [b for b in bugs if b.severity in severity]
            verdicts = regressions_prove(bugs=bugs, workers=workers)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        counts = dict.fromkeys(ProofVerdict.values, 0)
        self.stdout.write("| Bug | Severity | Test | Verdict | Parent | Fix |")
        self.stdout.write("|---|---|---|---|---|---|")
        for bug, verdict in verdicts:
            counts[verdict.verdict] += 1
            self.stdout.write(
                f"| {bug.key} | {bug.severity} | `{verdict.node_id}` | {verdict.detail} | {verdict.parent[:12]} | {verdict.fix[:12]} |"
            )
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        self.stdout.write(f"{len(bugs)} bugs, {len(verdicts)} tests: {summary} ({elapsed:.0f} s)")
        if counts[ProofVerdict.NO]:
            raise CommandError(f"{counts[ProofVerdict.NO]} test(s) do not catch their bug: they pass at the parent of the fix.")
        if options.get("require_proven") and counts[ProofVerdict.UNPROVEN]:
            raise CommandError(f"{counts[ProofVerdict.UNPROVEN]} test(s) are not proven: see the table above.")
