"""manage.py sync_regression_tests: link tests marked regression("BUG-…") to their bugs."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.models import Suite
from bugs.services.commits import regression_markers_collect, regression_tests_sync
from bugs.services.suites import suite_default


class Command(BaseCommand):
    help = "Collect the suite, link every test marked regression(...) to its bug; exit 1 when a marker names an unknown bug."

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("--suite", help="the suite to collect (default: Atom's own)")

    def handle(self, *args: Any, suite: str | None, **options: Any) -> None:
        command_actor(username=options.get("actor"), permissions=("bugs.change_bug",))
        target = Suite.objects.filter(name=suite).first() if suite else suite_default()
        if target is None:
            raise CommandError(f"No suite named {suite!r}.")
        try:
            summary = regression_tests_sync(suite=target, markers=regression_markers_collect(suite=target))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for key, node_id in summary.linked:
            self.stdout.write(f"linked {key} ↔ {node_id}")
        for key, node_id in summary.removed:
            self.stdout.write(f"unlinked {key} ↔ {node_id} (marker gone)")
        self.stdout.write(f"{summary.collected} marked test(s), {len(summary.linked)} new link(s).")
        if summary.unknown:
            for node_id, keys in sorted(summary.unknown.items()):
                self.stderr.write(f"unknown bug {', '.join(keys)} in {node_id}")
            sys.exit(1)
