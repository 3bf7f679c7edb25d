"""manage.py link_commits: "Fixes BUG-007" in the default branch's history sets fix commits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.services.commits import commits_link
from bugs.services.suites import suite_checkout, suite_default


class Command(BaseCommand):
    help = "Read git log of the default branch; Fixes/Closes/Resolves BUG-NNN sets the fix commit and moves the bug to fixed."

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("--repo", help="the git checkout (default: the default suite's checkout)")
        parser.add_argument("--branch", help="the branch to read (default: the repository's default branch)")

    def handle(self, *args: Any, repo: str | None, branch: str | None, **options: Any) -> None:
        command_actor(username=options.get("actor"), permissions=("bugs.change_bug",))
        path = Path(repo) if repo else suite_checkout(suite_default())
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory.")
        try:
            summary = commits_link(repo=path, branch=branch)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for key in summary.fixed:
            self.stdout.write(f"{key}: fixed")
        for key in summary.commit_set:
            self.stdout.write(f"{key}: fix commit updated")
        for warning in summary.warnings:
            self.stderr.write(f"warning: {warning}")
        if summary.unknown:
            self.stderr.write(f"Commits name unknown bugs: {', '.join(summary.unknown)}")
        self.stdout.write(f"{len(summary.fixed)} bug(s) moved to fixed.")
