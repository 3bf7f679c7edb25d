"""manage.py import_triage PATH: read a triage report (this or the older shape) back into bugs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atom.api.errors import DomainError
from bugs.services import triage_import


class Command(BaseCommand):
    help = "Create or update bugs from a Markdown triage report; running it twice changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the Markdown report to read")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            summary = triage_import(text=text)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for warning in summary.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"{len(summary.created)} created, {len(summary.updated)} updated, {len(summary.unchanged)} unchanged.")
