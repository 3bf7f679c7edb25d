"""manage.py import_triage PATH: read a triage report (this or the older shape) back into bugs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.report import TriageFormatError, triage_parse
from bugs.services.triage import triage_import


class BugsReached:
    """A query wrapper that advances a progress bar the first time the import's queries name each bug key.

    triage_import takes the whole report in one transaction; watching the keys its queries bind shows how
    far it got without changing anything it does. The import reads each bug by its key first, in the
    report's order, so the bar moves bug by bug.
    """

    def __init__(self, keys: Iterable[str], bar: tqdm[Any]) -> None:
        self.pending = set(keys)
        self.bar = bar

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if self.pending and not many and isinstance(params, list | tuple):
            reached = self.pending.intersection(value for value in params if isinstance(value, str))
            if reached:
                self.pending -= reached
                self.bar.update(len(reached))
        return execute(sql, params, many, context)


class Command(BaseCommand):
    help = "Create or update bugs from a Markdown triage report; running it twice changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("path", help="the Markdown report to read")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        command_actor(username=options.get("actor"), permissions=("bugs.add_bug", "bugs.change_bug"))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            keys = [parsed.key for parsed in triage_parse(text)]
            # The bar goes to stderr so that stdout keeps the one summary line scripts read.
            with tqdm(total=len(keys), desc="import_triage", unit=" bugs", file=sys.stderr, leave=True) as bar:
                watcher = BugsReached(keys, bar)
                with connection.execute_wrapper(watcher):
                    summary = triage_import(text=text)
                bar.update(len(watcher.pending))
        except TriageFormatError as exc:
            raise CommandError(str(exc)) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for warning in summary.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"{len(summary.created)} created, {len(summary.updated)} updated, {len(summary.unchanged)} unchanged, "
            f"{len(summary.refused)} refused."
        )
