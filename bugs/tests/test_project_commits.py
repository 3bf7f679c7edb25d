"""Commit linking per project: the project's own repository (fetched into its mirror), its default branch,
its bugs only; periodically, on demand (API, command) and per project in run_regressions and export_triage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from bugs.models import Bug, Project, Run, Suite
from bugs.services.bugs import bug_create
from bugs.services.projects import project_commits_link, project_create, projects_link_all

pytestmark = pytest.mark.django_db

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.org",
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**GIT_ENV, "PATH": os.environ["PATH"]}
    ).stdout.strip()


def _commit(repo: Path, message: str) -> str:
    (repo / "CHANGES").write_text((repo / "CHANGES").read_text() + message + "\n" if (repo / "CHANGES").exists() else message + "\n")
    _git(repo, "add", "CHANGES")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path, settings: Any) -> Path:
    """A repository under an allowed root with a trunk branch (the project's default) and a side branch."""
    root = tmp_path / "repos"
    repo = root / "tiny"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "trunk")
    _commit(repo, "Start")
    settings.ATOM_REPOSITORY_ROOTS = [root]
    settings.ATOM_PROJECTS_DIR = tmp_path / "projects"
    return repo


@pytest.fixture
def tiny(upstream: Path) -> Project:
    project = project_create(slug="tiny", name="Tiny", repository=f"file://{upstream}", default_branch="trunk")
    bug_create(key="BUG-001", title="Crash on empty input", severity="P3", project=project)
    bug_create(key="BUG-002", title="Wrong total", severity="P3", project=project)
    other = project_create(slug="other", name="Other")
    bug_create(key="BUG-003", title="Theirs", severity="P3", project=other)
    return project


def test_a_project_links_its_default_branch_from_its_own_mirror(upstream, tiny):
    fix_one = _commit(upstream, "Guard the parser\n\nFixes BUG-001")
    _git(upstream, "checkout", "-q", "-b", "side")
    _commit(upstream, "Fixes BUG-002 on a side branch")
    _git(upstream, "checkout", "-q", "trunk")
    _commit(upstream, "Closes BUG-003, BUG-999")
    summary = project_commits_link(project=tiny)
    assert summary.fixed == ["BUG-001"]
    assert summary.unknown == ["BUG-999"]
    assert any("BUG-003" in w and "'other'" in w for w in summary.warnings)
    assert dict(Bug.objects.values_list("key", "status")) == {"BUG-001": "fixed", "BUG-002": "open", "BUG-003": "open"}
    assert Bug.objects.get(key="BUG-001").fix_commit == fix_one
    assert (Path(django_settings.ATOM_PROJECTS_DIR) / "tiny" / "mirror.git").is_dir()
    tiny.refresh_from_db()
    assert tiny.commits_linked_at is not None
    assert tiny.commits_link_error == ""
    # A later push is fetched on the next read; reading again changes nothing else.
    fix_two = _commit(upstream, "Resolves BUG-002")
    assert project_commits_link(project=tiny).fixed == ["BUG-002"]
    assert Bug.objects.get(key="BUG-002").fix_commit == fix_two
    assert project_commits_link(project=tiny).fixed == []


def test_a_failed_fetch_is_kept_on_the_project_and_raised(upstream, tiny):
    (upstream / ".git").rename(upstream / "not-git")
    with pytest.raises(Exception, match=r"(?i)repository|git|fatal"):
        project_commits_link(project=tiny)
    tiny.refresh_from_db()
    assert tiny.commits_link_error
    assert Bug.objects.get(key="BUG-001").status == "open"


def test_the_periodic_link_reads_every_project_with_a_repository_and_survives_a_broken_one(upstream, tiny, tmp_path):
    _commit(upstream, "Fixes BUG-001")
    broken_repo = upstream.parent / "broken"
    broken_repo.mkdir()
    project_create(slug="broken", name="Broken", repository=str(broken_repo))
    outcomes = projects_link_all()
    assert outcomes["tiny"].startswith("1 fixed")
    assert outcomes["broken"].startswith("error:")
    assert "other" not in outcomes, "a project without a repository is not fetched"
    assert Bug.objects.get(key="BUG-001").status == "fixed"
    assert Project.objects.get(slug="broken").commits_link_error


def test_the_beat_task_is_registered_and_scheduled_by_its_setting():
    from bugs.tasks import projects_link_commits_task

    assert projects_link_commits_task.name == "bugs.projects_link_commits"
    entry = django_settings.CELERY_BEAT_SCHEDULE["bugs-projects-link-commits"]
    assert entry["task"] == "bugs.projects_link_commits"
    assert entry["schedule"] == float(django_settings.ATOM_PROJECTS_LINK_INTERVAL_SECONDS)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print('bugs-projects-link-commits' in settings.CELERY_BEAT_SCHEDULE)"
    )
    env = {**os.environ, "ATOM_PROJECTS_LINK_INTERVAL_SECONDS": "0", "DJANGO_SETTINGS_MODULE": "atom.settings_test"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=django_settings.BASE_DIR)
    assert off.stdout.strip() == "False"


# --- on demand ------------------------------------------------------------------------------------------


def test_the_api_links_a_project_on_demand(upstream, tiny, superuser, client_for):
    _commit(upstream, "Fixes BUG-001 and BUG-003")
    response = client_for(superuser).post("/api/v1/projects/tiny/link-commits/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["fixed"] == ["BUG-001"]
    assert any("BUG-003" in warning for warning in body["warnings"])
    assert client_for(superuser).post("/api/v1/projects/nowhere/link-commits/", {}, format="json").status_code == 404


def test_the_api_answers_a_failed_fetch_in_the_error_shape(upstream, tiny, superuser, client_for):
    (upstream / ".git").rename(upstream / "not-git")
    response = client_for(superuser).post("/api/v1/projects/tiny/link-commits/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "REPOSITORY_ERROR"


def test_link_commits_project_command(upstream, tiny, command_actor):
    _commit(upstream, "Fixes BUG-002")
    out, err = StringIO(), StringIO()
    call_command("link_commits", "--project", "tiny", stdout=out, stderr=err)
    assert "BUG-002: fixed" in out.getvalue()
    assert Bug.objects.get(key="BUG-002").status == "fixed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nowhere"], "No project named 'nowhere'."),
        (["--project", "tiny", "--repo", "/tmp"], "--project reads the project's own repository"),
        (["--project", "tiny", "--branch", "dev"], "--project reads the project's own repository"),
    ],
)
def test_link_commits_project_command_refuses_with_one_line(tiny, command_actor, args, message):
    with pytest.raises(CommandError) as refused:
        call_command("link_commits", *args)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_link_commits_project_needs_the_link_permission(tiny, django_user_model, settings):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="triager", password="correct horse battery staple")
    user.user_permissions.set(Permission.objects.filter(codename="change_bug"))
    with pytest.raises(CommandError, match="link_project_commits"):
        call_command("link_commits", "--project", "tiny", "--actor", "triager")


def test_a_failed_fetch_ends_the_command_with_one_line(upstream, tiny, command_actor):
    (upstream / ".git").rename(upstream / "not-git")
    with pytest.raises(CommandError) as refused:
        call_command("link_commits", "--project", "tiny")
    assert "\n" not in str(refused.value)


# --- run_regressions and export_triage per project ------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: sent.append(run_id))
    return sent


def test_run_regressions_project_runs_its_default_suite(tiny, command_actor, queued):
    Suite.objects.create(name="tiny", project=tiny)
    Suite.objects.create(name="tiny-slow", project=tiny)
    out = StringIO()
    call_command("run_regressions", "--project", "tiny", stdout=out)
    assert list(Run.objects.values_list("suite__name", flat=True)) == ["tiny"]


def test_run_regressions_project_runs_every_suite_when_none_is_the_default(tiny, command_actor, queued):
    Suite.objects.create(name="unit", project=tiny)
    Suite.objects.create(name="integration", project=tiny)
    call_command("run_regressions", "--project", "tiny", stdout=StringIO())
    assert sorted(Run.objects.values_list("suite__name", flat=True)) == ["integration", "unit"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nowhere"], "No project named 'nowhere'."),
        (["--project", "tiny"], "has no suite to run"),
        (["--project", "other", "--suite", "unit"], "belongs to the project 'tiny', not 'other'"),
    ],
)
def test_run_regressions_project_refusals(tiny, command_actor, queued, args, message):
    if "--suite" in args:
        Suite.objects.create(name="unit", project=tiny)
    with pytest.raises(CommandError, match=message):
        call_command("run_regressions", *args)
    assert Run.objects.count() == 0


def test_export_triage_project_names_the_project_and_keeps_the_whole_report_unchanged(tiny, tmp_path):
    every_before = StringIO()
    call_command("export_triage", "--format", "json", stdout=every_before)
    one = StringIO()
    call_command("export_triage", "--project", "tiny", stdout=one)
    text = one.getvalue()
    assert "Filters: project = tiny" in text
    assert "### BUG-001" in text
    assert "BUG-003" not in text
    document = json.loads(every_before.getvalue())
    assert document["filters"] == {}
    assert [b["key"] for b in document["bugs"]] == ["BUG-001", "BUG-002", "BUG-003"]
    with pytest.raises(CommandError, match="No project named"):
        call_command("export_triage", "--project", "nowhere")
