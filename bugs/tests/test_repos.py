"""A project's repository: the addresses refused, the mirror, and one worktree per run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bugs import repos
from bugs.models import Bug, Project, Suite
from bugs.tests.factories import make_bug

pytestmark = pytest.mark.django_db


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}
    ).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path, settings) -> Path:
    """A two-commit repository under an allowed root."""
    root = tmp_path / "repos"
    repo = root / "tiny"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "VERSION").write_text("1\n")
    _git(repo, "add", "VERSION")
    _git(repo, "commit", "-q", "-m", "First")
    (repo / "VERSION").write_text("2\n")
    _git(repo, "commit", "-q", "-am", "Second")
    settings.ATOM_REPOSITORY_ROOTS = [root]
    settings.ATOM_PROJECTS_DIR = tmp_path / "projects"
    return repo


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ext::sh -c touch% /tmp/pwned", "transport"),
        ("fd::17", "transport"),
        ("-uhelp", "option"),
        ("--upload-pack=touch /tmp/pwned", "option"),
        ("https://user:hunter2@github.com/org/repo.git", "Credentials"),
        ("https://ghp_abcdef@github.com/org/repo.git", "Credentials"),
        ("ssh://git:pw@example.org/repo.git", "Credentials"),
        ("http://github.com/org/repo.git", "scheme"),
        ("ftp://example.org/repo.git", "scheme"),
        ("relative/path", "absolute"),
        ("/etc", "allowed repository roots"),
        ("file:///etc", "allowed repository roots"),
        ("file://otherhost/srv/repo.git", "not a host"),
        ("https://exa mple.org/repo.git", "spaces"),
        ("ssh://-oProxyCommand=touch/repo.git", "host"),
    ],
)
def test_repository_addresses_refused_with_reason(address: str, why: str, settings, tmp_path: Path) -> None:
    settings.ATOM_REPOSITORY_ROOTS = [tmp_path]
    with pytest.raises(repos.RepositoryError) as caught:
        repos.repository_validate(address)
    assert caught.value.code == "REPOSITORY_REFUSED"
    assert why in caught.value.message


@pytest.mark.parametrize(
    "address", ["https://github.com/org/repo.git", "ssh://git@gitlab.example.org:2222/org/repo.git", "https://gitea.example.org/org/repo"]
)
def test_remote_addresses_accepted(address: str) -> None:
    assert repos.repository_validate(f"  {address} ") == address


def test_local_and_file_addresses_accepted_only_under_a_root(upstream: Path) -> None:
    assert repos.repository_validate(str(upstream)) == str(upstream)
    assert repos.repository_validate(f"file://{upstream}") == f"file://{upstream}"
    with pytest.raises(repos.RepositoryError):
        repos.repository_validate(f"file://{upstream}/../../..")


@pytest.mark.parametrize("branch", ["-f", "--orphan", "main..x", "a b", "bad~1", ""])
def test_branch_names_refused(branch: str) -> None:
    with pytest.raises(repos.RepositoryError):
        repos.branch_validate(branch)


def test_mirror_clones_then_fetches_and_worktrees_are_private(upstream: Path) -> None:
    project = Project.objects.create(slug="tiny", name="Tiny", repository=f"file://{upstream}")
    mirror = repos.mirror_sync(project)
    first, second = _git(upstream, "rev-list", "--reverse", "main").split()
    assert repos.commit_resolve(project, "main") == second
    (upstream / "VERSION").write_text("3\n")
    _git(upstream, "commit", "-q", "-am", "Third")
    assert repos.mirror_sync(project) == mirror
    third = _git(upstream, "rev-parse", "HEAD")
    assert repos.commit_resolve(project, "main") == third
    with repos.run_worktree(project, first) as one, repos.run_worktree(project, third) as two:
        assert one != two
        assert (one / "VERSION").read_text() == "1\n"
        assert (two / "VERSION").read_text() == "3\n"
    assert not one.exists()
    assert not two.exists()
    assert "worktrees" not in _git(mirror, "worktree", "list")


def test_a_failed_clone_leaves_no_mirror(upstream: Path) -> None:
    project = Project.objects.create(slug="gone", name="Gone", repository=f"file://{upstream.parent}/missing")
    with pytest.raises(repos.RepositoryError):
        repos.mirror_sync(project)
    assert not repos.mirror_path(project).exists()
    assert [p.name for p in repos.project_dir(project).iterdir()] == [".lock"]


def test_a_missing_credential_is_named_and_a_secret_never_leaks(upstream: Path, settings) -> None:
    project = Project.objects.create(slug="private", name="Private", repository="https://127.0.0.1:1/org/repo.git", credential="deploy")
    with pytest.raises(repos.RepositoryError, match="ATOM_GIT_CREDENTIAL_DEPLOY"):
        repos.mirror_sync(project)
    settings.ATOM_GIT_CREDENTIALS = {"deploy": "s3cr3t-token"}
    with pytest.raises(repos.RepositoryError) as caught:
        repos.mirror_sync(project)
    assert "s3cr3t" not in caught.value.message


def test_existing_bugs_and_suites_belong_to_the_default_project() -> None:
    bug = make_bug()
    suite = Suite.objects.create(name="other")
    assert bug.project.slug == suite.project.slug == "atom"
    assert Bug.objects.filter(project__slug="atom").count() >= 1
