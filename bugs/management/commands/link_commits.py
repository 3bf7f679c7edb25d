"""manage.py link_commits: "Fixes BUG-007" in the default branch's history sets fix commits.

``--project SLUG`` fetches that project's repository and reads its default branch, linking only its bugs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atom.errors import DomainError
from atom.permissions import actor_argument, command_actor
from bugs.selectors import project_by_slug
from bugs.services.commits import LinkSummary, commits_link
from bugs.services.projects import project_commits_link
from bugs.services.suites import suite_checkout, suite_default


class Command(BaseCommand):
    help = "Read git log of the default branch; Fixes/Closes/Resolves BUG-NNN sets the fix commit and moves the bug to fixed."

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument(parser)
        parser.add_argument("--project", metavar="SLUG", help="fetch this project's repository and link its bugs only")
        parser.add_argument("--repo", help="the git checkout (default: the default suite's checkout)")
        parser.add_argument("--branch", help="the branch to read (default: the repository's default branch)")

    def handle(self, *args: Any, repo: str | None, branch: str | None, project: str | None, **options: Any) -> None:
        if project:
            if repo or branch:
                raise CommandError("--project reads the project's own repository and default branch: drop --repo and --branch.")
            command_actor(username=options.get("actor"), permissions=("bugs.link_project_commits",))
            target = project_by_slug(project)
            if target is None:
                raise CommandError(f"No project named {project!r}.")
            try:
                summary = project_commits_link(project=target)
            except DomainError as exc:
                raise CommandError(exc.message.splitlines()[0] if exc.message else exc.code) from exc
        else:
            summary = self._link_checkout(repo, branch, options.get("actor"))
        for key in summary.fixed:
            self.stdout.write(f"{key}: fixed")
        for key in summary.commit_set:
            self.stdout.write(f"{key}: fix commit updated")
        for warning in summary.warnings:
            self.stderr.write(f"warning: {warning}")
        if summary.unknown:
            self.stderr.write(f"Commits name unknown bugs: {', '.join(summary.unknown)}")
        self.stdout.write(f"{len(summary.fixed)} bug(s) moved to fixed.")

    def _link_checkout(self, repo: str | None, branch: str | None, actor: str | None) -> LinkSummary:
        command_actor(username=actor, permissions=("bugs.change_bug",))
        path = Path(repo) if repo else suite_checkout(suite_default())
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory.")
        try:
            return commits_link(repo=path, branch=branch)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
