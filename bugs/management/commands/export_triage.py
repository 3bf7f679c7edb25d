"""manage.py export_triage: the triage report as Markdown, JSON or CSV (the admin download's twin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bugs import report
from bugs.models import BugStatus, Severity
from bugs.selectors import project_by_slug


class Command(BaseCommand):
    help = "Write the bug triage report (Markdown by default) to stdout or a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")
        parser.add_argument("--format", choices=report.FORMATS, default="markdown")
        parser.add_argument("--severity", action="append", choices=Severity.values, default=[], help="only this severity (repeatable)")
        parser.add_argument("--status", action="append", choices=BugStatus.values, default=[], help="only this status (repeatable)")
        parser.add_argument("--project", metavar="SLUG", help="only this project's bugs (the report names it; default: every project)")

    def handle(
        self, *args: Any, output: str | None, format: str, severity: list[str], status: list[str], project: str | None, **options: Any
    ) -> None:
        if project and project_by_slug(project) is None:
            raise CommandError(f"No project named {project!r}.")
        filters = report.TriageFilters(severities=tuple(severity), statuses=tuple(status), project=project or "")
        text = report.triage_report(fmt=format, filters=filters)
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}") from exc
        self.stderr.write(f"Triage report written to {output}.")
