"""Every state-changing command acts as a named user (``--actor USERNAME``) checked like any other caller:
superuser; staff with exactly the needed permissions; staff with every view permission; staff with none.
Without an actor, or with an unknown or inactive one, the command refuses and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from bugs import report
from bugs.models import Bug, RegressionTest, Run
from bugs.services.bugs import bug_create, bug_link_test

pytestmark = pytest.mark.django_db

ROLES = ("superuser", "exact", "view-only", "none")


@dataclass(frozen=True)
class CommandCase:
    permissions: tuple[str, ...]
    arrange: Callable[[Any, Any], list[str]]  # (project, suite_for) -> the command's arguments
    state: Callable[[], Any]


def _run_regressions(_project: Any, _suite_for: Any) -> list[str]:
    bug = bug_create(key="BUG-001", title="x", severity="P3")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    return ["run_regressions", "--bug", "BUG-001"]


def _import_triage(project: Any, _suite_for: Any) -> list[str]:
    bug_create(key="BUG-001", title="imported", severity="P3")
    path = project.path / "report.md"
    path.write_text(report.triage_report(fmt="markdown", filters=report.TriageFilters()))
    Bug.objects.all().delete()
    return ["import_triage", str(path)]


def _link_commits(project: Any, _suite_for: Any) -> list[str]:
    bug_create(key="BUG-001", title="x", severity="P3")
    project.write("a.py", "x = 1\n")
    project.commit("Guard the thing\n\nFixes BUG-001")
    return ["link_commits", "--repo", str(project.path)]


def _sync_regression_tests(project: Any, suite_for: Any) -> list[str]:
    bug_create(key="BUG-007", title="x", severity="P3")
    project.write("tests/test_a.py", "import pytest\n\n@pytest.mark.regression('BUG-007')\ndef test_known():\n    pass\n")
    project.commit("tests")
    suite_for(project, name="proj")
    return ["sync_regression_tests", "--suite", "proj"]


COMMANDS: dict[str, CommandCase] = {
    "run_regressions": CommandCase(("bugs.run_regressions",), _run_regressions, lambda: Run.objects.count()),
    "import_triage": CommandCase(("bugs.add_bug", "bugs.change_bug"), _import_triage, lambda: Bug.objects.count()),
    "link_commits": CommandCase(("bugs.change_bug",), _link_commits, lambda: list(Bug.objects.values_list("fix_commit", flat=True))),
    "sync_regression_tests": CommandCase(("bugs.change_bug",), _sync_regression_tests, lambda: RegressionTest.objects.count()),
}


def _actor(role: str, case: CommandCase) -> str:
    users = get_user_model().objects
    if role == "superuser":
        return str(users.create_superuser("root", password="correct horse battery staple").username)
    user = users.create_user("staff", password="correct horse battery staple", is_staff=True)
    if role == "exact":
        labels = [name.split(".") for name in case.permissions]
        user.user_permissions.set([Permission.objects.get(content_type__app_label=a, codename=c) for a, c in labels])
    elif role == "view-only":
        user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return str(user.username)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)


@pytest.mark.regression("BUG-093")
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", COMMANDS)
def test_p2_security_commands_act_without_identity_or_permission_regression(command, role, project, suite_for):
    """BUG-093 (P2, security): the state-changing commands (run_regressions, import_triage, link_commits,
    sync_regression_tests) acted as no one and checked nothing: whoever could run manage.py queued runs,
    rewrote bugs and moved statuses, and the history named no actor."""
    case = COMMANDS[command]
    arguments = case.arrange(project, suite_for)
    before = case.state()
    actor = _actor(role, case)
    if role in ("superuser", "exact"):
        call_command(*arguments, "--actor", actor)
        assert case.state() != before
    else:
        with pytest.raises(CommandError, match="permission"):
            call_command(*arguments, "--actor", actor)
        assert case.state() == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_without_a_known_active_actor_refuses(command, project, suite_for, settings):
    settings.ATOM_COMMAND_ACTOR = ""
    case = COMMANDS[command]
    arguments = case.arrange(project, suite_for)
    before = case.state()
    with pytest.raises(CommandError, match="actor"):
        call_command(*arguments)
    with pytest.raises(CommandError, match="actor"):
        call_command(*arguments, "--actor", "nobody")
    get_user_model().objects.create_superuser("gone", password="correct horse battery staple", is_active=False)
    with pytest.raises(CommandError, match="actor"):
        call_command(*arguments, "--actor", "gone")
    assert case.state() == before
