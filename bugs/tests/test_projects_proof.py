"""A project that is not Atom, with its own dependency, through the whole loop: suite venv, runs at a
commit in worktrees of their own, proof that each linked test catches its bug, verification, reopening."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bugs import repos
from bugs.envs import SuiteEnvironmentError, python_validate, requirements_validate
from bugs.models import Bug, BugStatus, Project, ProofVerdict, RegressionTest, Run, RunStatus, Suite, SuiteEnvironment
from bugs.report import triage_report
from bugs.services.proofs import regressions_prove
from bugs.services.results import run_finalize
from bugs.services.runs import run_trigger
from bugs.services.shards import run_checkout, run_shard_execute
from bugs.services.status import StatusRefused, bug_transition
from bugs.tests.factories import make_bug
from bugs.tests.projects import Upstream, calc_project, dependency_wheel, wheelhouse_or_skip

pytestmark = pytest.mark.django_db

TOTAL = "tests/test_total.py::test_total_of_negatives"
DOUBLED = "tests/test_doubled.py::test_doubled"


@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One wheel of the dependency and one venv directory for the whole session (a venv is keyed by its
    files' hash, so every test with the same requirements reuses the first build)."""
    root = tmp_path_factory.mktemp("suite-envs")
    return dependency_wheel(root), root / "envs"


@pytest.fixture
def calc(tmp_path: Path, settings: Any, env_cache: tuple[Path, Path]) -> tuple[Upstream, dict[str, str], Suite]:
    wheelhouse = wheelhouse_or_skip()
    wheels, envs = env_cache
    upstream, commits = calc_project(tmp_path / "repos")
    settings.ATOM_REPOSITORY_ROOTS = [tmp_path / "repos"]
    settings.ATOM_PROJECTS_DIR = tmp_path / "projects"
    settings.ATOM_ENVS_DIR = envs
    settings.ATOM_BUGS_ARTIFACTS_DIR = tmp_path / "runs"
    settings.ATOM_ENV_PIP_ARGS = f"--no-index --find-links {wheels} --find-links {wheelhouse}"
    project = Project.objects.create(slug="calc", name="Calc", repository=upstream.url)
    suite = Suite.objects.create(
        name="calc",
        project=project,
        requirements=["requirements.txt"],
        timeout_seconds=120,
        environment={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    return upstream, commits, suite


def _fixed_bug(key: str, project: Project, commit: str, node_id: str) -> Bug:
    bug = make_bug(key=key, severity="P1", project=project, status=BugStatus.FIXED, fix_commit=commit)
    RegressionTest.objects.create(bug=bug, node_id=node_id)
    return bug


def _execute(run: Run) -> Run:
    """What the worker does with each shard of the run (this test's transaction never commits, so nothing
    reaches a broker)."""
    shards = list(run.shards.all())
    for shard in shards:
        run_shard_execute(shard_id=shard.pk, finalize=len(shards) == 1)
    run_finalize(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_proven_fix_resolves_a_test_passing_before_its_fix_stays_fixed_and_a_breaking_commit_reopens(calc) -> None:
    upstream, commits, suite = calc
    first = _fixed_bug("BUG-701", suite.project, commits["fix701"], TOTAL)
    second = _fixed_bug("BUG-702", suite.project, commits["fix702"], DOUBLED)

    verdicts = {(bug.key, v.node_id): v for bug, v in regressions_prove(bugs=[first, second], workers=1)}
    proof = verdicts[("BUG-701", TOTAL)]
    assert proof.verdict == ProofVerdict.YES
    assert proof.parent == commits["test701"]
    assert proof.fix == commits["fix701"]
    assert proof.detail == f"catches its bug: yes (fails at {commits['test701'][:7]}, passes at {commits['fix701'][:7]})"
    weak = verdicts[("BUG-702", DOUBLED)]
    assert weak.verdict == ProofVerdict.NO
    assert weak.detail == f"no: passes at the parent {commits['fix701'][:7]}"
    assert RegressionTest.objects.get(bug=second).proof_verdict == ProofVerdict.NO

    # The venv was built once from the project's requirements, under a pytest without Django or Atom.
    environment = SuiteEnvironment.objects.filter(suite=suite, status=SuiteEnvironment.Status.READY).latest("pk")
    assert Path(environment.path, "bin", "python").exists()
    assert not list(Path(environment.path).parent.glob(".*.partial"))

    run = _execute(run_trigger(suite=suite, bug_keys=["BUG-701", "BUG-702"], trigger=Run.Trigger.API))
    assert run.status == RunStatus.PASSED, run.error_message
    assert run.commit_sha == commits["fix702"]
    assert run.branch == "main"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == BugStatus.RESOLVED
    assert second.status == BugStatus.FIXED  # its test passed, but it passes without the fix too
    with pytest.raises(StatusRefused, match="does not catch its bug"):
        bug_transition(bug=second, to_status=BugStatus.RESOLVED, reason="by hand")
    assert "## Tests that do not catch their bug" in triage_report()
    assert f"- `{DOUBLED}` (BUG-702): no: passes at the parent" in triage_report()

    # A breaking commit: the run fails, a confirmation rerun at the same commit fails again, the bug reopens.
    upstream.write("calc/__init__.py", (upstream.path / "calc/__init__.py").read_text().replace("sum(xs)", "sum(x for x in xs if x)"))
    upstream.write("calc/__init__.py", (upstream.path / "calc/__init__.py").read_text().replace("if x)", "if x > 0)"))
    breaking = upstream.commit("calc: skip zeros")
    run = _execute(run_trigger(suite=suite, bug_keys=["BUG-701"], trigger=Run.Trigger.API))
    assert run.status == RunStatus.FAILED
    assert run.commit_sha == breaking
    first.refresh_from_db()
    assert first.status == BugStatus.RESOLVED  # one failure is not yet a regression
    rerun = Run.objects.get(rerun_of=run)
    assert rerun.revision == breaking
    rerun = _execute(rerun)
    first.refresh_from_db()
    assert rerun.commit_sha == breaking
    assert first.status == BugStatus.REOPENED
    assert first.is_regression


def test_two_runs_at_two_commits_each_get_a_worktree_of_their_own(calc) -> None:
    _upstream, commits, suite = calc
    old = run_trigger(suite=suite, node_ids=[TOTAL], trigger=Run.Trigger.API, revision=commits["test701"])
    new = run_trigger(suite=suite, node_ids=[TOTAL], trigger=Run.Trigger.API, revision="main")
    with run_checkout(old) as one, run_checkout(new) as two:
        assert one != two
        assert "x > 0" in (one / "calc/__init__.py").read_text()
        assert "x > 0" not in (two / "calc/__init__.py").read_text()
        (one / "scratch.txt").write_text("only here")
        assert not (two / "scratch.txt").exists()
    assert not one.exists()
    assert not two.exists()
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.commit_sha, new.commit_sha) == (commits["test701"], commits["fix702"])
    assert _execute(old).failed == 1
    assert _execute(new).passed == 1
    assert not list((repos.project_dir(suite.project) / "worktrees").iterdir())


def test_a_test_file_missing_at_the_parent_is_brought_from_the_fix_commit(calc, tmp_path: Path) -> None:
    upstream, commits, suite = calc
    upstream.write("tests/test_more.py", "from calc import total\n\n\ndef test_zero():\n    assert total([-1, 1]) == 0\n")
    upstream.write("calc/__init__.py", (upstream.path / "calc/__init__.py").read_text() + "\n\nVERSION = 2\n")
    fix = upstream.commit("Fixes BUG-703: the test and the fix in one commit")
    bug = _fixed_bug("BUG-703", suite.project, fix, "tests/test_more.py::test_zero")
    [(_, verdict)] = regressions_prove(bugs=[bug], workers=1)
    assert verdict.verdict == ProofVerdict.NO  # the parent already counts negatives: the new test passes there
    assert verdict.detail == f"no: passes at the parent {commits['fix702'][:7]} (test file brought from the fix commit)"


def test_a_fix_spanning_several_commits_is_proven_at_the_parent_of_the_first(calc) -> None:
    upstream, commits, suite = calc
    upstream.write("NOTES", "follow-up\n")
    follow_up = upstream.commit("Fixes BUG-701 for good: notes")
    bug = _fixed_bug("BUG-701", suite.project, follow_up, TOTAL)
    RegressionTest.objects.create(bug=bug, node_id="CI::Calc::total_of_negatives")
    verdicts = {v.node_id: v for _, v in regressions_prove(bugs=[bug], workers=1)}
    assert verdicts[TOTAL].verdict == ProofVerdict.YES
    assert (verdicts[TOTAL].parent, verdicts[TOTAL].fix) == (commits["test701"], follow_up)
    imported = verdicts["CI::Calc::total_of_negatives"]
    assert imported.verdict == ProofVerdict.UNPROVEN
    assert imported.detail == "unproven: not a pytest test (known only from an imported report)"


def test_a_failed_venv_build_ends_the_run_with_its_error_and_leaves_no_venv(calc, settings: Any) -> None:
    upstream, _commits, suite = calc
    upstream.write("requirements.txt", "atom-tinyhelper==1.0\natom-no-such-package==9.9\n")
    upstream.commit("calc: a requirement no index has")
    run = _execute(run_trigger(suite=suite, node_ids=[DOUBLED], trigger=Run.Trigger.API))
    assert run.status == RunStatus.ERROR
    assert "The suite's venv could not be built (pip failed)" in run.error_message
    assert "atom-no-such-package" in run.error_message
    build = SuiteEnvironment.objects.filter(suite=suite).latest("pk")
    assert build.status == SuiteEnvironment.Status.FAILED
    assert "atom-no-such-package" in build.log
    assert not Path(settings.ATOM_ENVS_DIR, build.hash).exists()
    assert not list(Path(settings.ATOM_ENVS_DIR).glob(f".{build.hash}.*.partial"))


def test_a_bad_interpreter_path_is_refused_with_a_clear_error(calc, tmp_path: Path) -> None:
    _, _, suite = calc
    with pytest.raises(SuiteEnvironmentError, match="does not exist"):
        python_validate(str(tmp_path / "no-python"))
    not_executable = tmp_path / "python3"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(SuiteEnvironmentError, match="not an executable file"):
        python_validate(str(not_executable))
    with pytest.raises(SuiteEnvironmentError, match="not an absolute path"):
        python_validate("python3")
    for bad in (["/etc/passwd"], ["../outside.txt"], ["-r evil.txt"], "requirements.txt"):
        with pytest.raises(SuiteEnvironmentError):
            requirements_validate(bad)
    # An interpreter removed after the suite was registered ends the run with the same reason.
    gone = tmp_path / "gone-python"
    gone.write_text("#!/bin/sh\n")
    gone.chmod(gone.stat().st_mode | stat.S_IXUSR)
    Suite.objects.filter(pk=suite.pk).update(python=str(gone), requirements=[])
    os.remove(gone)
    suite.refresh_from_db()
    run = _execute(run_trigger(suite=suite, node_ids=[DOUBLED], trigger=Run.Trigger.API))
    assert run.status == RunStatus.ERROR
    assert f"The interpreter {gone} does not exist." in run.error_message


def test_a_named_interpreter_runs_the_suite(calc, tmp_path: Path) -> None:
    """A suite may name an interpreter instead: here the venv Atom built, named by its path."""
    _, commits, suite = calc
    bug = _fixed_bug("BUG-701", suite.project, commits["fix701"], TOTAL)
    regressions_prove(bugs=[bug], workers=1)
    built = SuiteEnvironment.objects.filter(suite=suite, status=SuiteEnvironment.Status.READY).latest("pk")
    named = Suite.objects.create(
        name="calc-named", project=suite.project, python=str(Path(built.path) / "bin" / "python"), environment=suite.environment
    )
    run = _execute(run_trigger(suite=named, node_ids=[DOUBLED, TOTAL], trigger=Run.Trigger.API))
    assert (run.status, run.passed) == (RunStatus.PASSED, 2), run.error_message


def test_prove_regressions_command(calc, command_actor, capsys) -> None:
    _, commits, suite = calc
    _fixed_bug("BUG-701", suite.project, commits["fix701"], TOTAL)
    _fixed_bug("BUG-702", suite.project, commits["fix702"], DOUBLED)
    with pytest.raises(CommandError, match="1 test\\(s\\) do not catch their bug"):
        call_command("prove_regressions", "--project", "calc", "--workers", "1")
    out = capsys.readouterr().out
    assert f"| BUG-701 | P1 | `{TOTAL}` | catches its bug: yes (fails at {commits['test701'][:7]}" in out
    assert "2 bugs, 2 tests: 1 yes, 1 no, 0 unproven" in out
    call_command("prove_regressions", "BUG-701", "--workers", "1")
    with pytest.raises(CommandError, match="Unknown bugs: BUG-999"):
        call_command("prove_regressions", "BUG-999")


# --- the API ------------------------------------------------------------------------------------------------


def _holder(django_user_model: Any, *codenames: str) -> Any:
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="holder-" + "-".join(codenames)[:100], password="correct horse battery staple")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="bugs", codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)


def test_suites_api_creates_reads_and_updates_with_their_own_permissions(django_user_model, client_for, tmp_path: Path) -> None:
    Project.objects.create(slug="calc", name="Calc")
    body = {"name": "calc", "project": "calc", "requirements": ["requirements.txt"], "pytest_args": ["-x"]}
    viewer = client_for(_holder(django_user_model, "view_suite"))
    assert viewer.post("/api/v1/suites/", body, format="json").status_code == 403
    adder = client_for(_holder(django_user_model, "add_suite", "view_suite"))
    created = adder.post("/api/v1/suites/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["project"] == "calc"
    assert created.json()["requirements"] == ["requirements.txt"]
    assert adder.post("/api/v1/suites/", body, format="json").json()["error"]["code"] == "SUITE_EXISTS"
    assert viewer.get("/api/v1/suites/calc/").json()["environments"] == []
    assert adder.patch("/api/v1/suites/calc/", {"timeout_seconds": 5}, format="json").status_code == 403
    changer = client_for(_holder(django_user_model, "change_suite", "view_suite"))
    missing = changer.patch("/api/v1/suites/calc/", {"python": str(tmp_path / "python9")}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "INVALID_PYTHON"
    assert missing.json()["error"]["message"] == f"The interpreter {tmp_path / 'python9'} does not exist."
    escaping = changer.patch("/api/v1/suites/calc/", {"requirements": ["../../etc/passwd"]}, format="json")
    assert escaping.status_code == 400
    assert escaping.json()["error"]["code"] == "INVALID_REQUIREMENTS"
    assert Suite.objects.get(name="calc").requirements == ["requirements.txt"]  # nothing half-written
    python = changer.patch("/api/v1/suites/calc/", {"python": "/bin/sh"}, format="json")
    assert python.status_code == 200
    assert python.json()["python"] == "/bin/sh"


def test_prove_api_queues_the_proof_and_needs_its_permission(django_user_model, client_for, monkeypatch) -> None:
    queued: list[list[str]] = []
    monkeypatch.setattr("bugs.api.views.proof_enqueue", lambda *, keys: queued.append(keys))
    bug = make_bug(key="BUG-701", severity="P2", fix_commit="abc1234")
    triager = client_for(_holder(django_user_model, "view_bug", "change_bug"))
    assert triager.post("/api/v1/bugs/BUG-701/prove/").status_code == 403
    prover = client_for(_holder(django_user_model, "view_bug", "prove_regressions"))
    nothing = prover.post("/api/v1/bugs/BUG-701/prove/")
    assert (nothing.status_code, nothing.json()["error"]["code"]) == (400, "NOTHING_TO_PROVE")
    RegressionTest.objects.create(bug=bug, node_id=TOTAL)
    response = prover.post("/api/v1/bugs/BUG-701/prove/")
    assert response.status_code == 202
    assert response.json() == {"bug": "BUG-701", "status": "queued"}
    assert queued == [["BUG-701"]]
    assert prover.post("/api/v1/bugs/BUG-999/prove/").status_code == 404
    assert prover.get("/api/v1/bugs/BUG-701/").json()["regression_tests"][0]["proof_verdict"] == "unproven"


# --- the whole loop through a real worker ---------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_a_project_with_its_own_dependency_through_the_whole_loop_on_a_worker(
    tmp_path: Path, settings: Any, env_cache: tuple[Path, Path], django_user_model: Any, client_for: Any
) -> None:
    """Bug, linked test, proof (API → task), two concurrent runs at two commits, verification, a breaking
    commit reopening the bug after a confirming rerun, and the report: all on a real Celery worker.

    The worker has this test's settings (allowed roots, venv directory, pip options), so it gets a queue of
    its own: the session's shared worker never takes these tasks."""
    from atom.testing import tasks_sent_to, wait_until, worker_start, worker_stop
    from bugs.models import TERMINAL_RUN_STATUSES

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-projects"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue

    wheelhouse = wheelhouse_or_skip()
    wheels, envs = env_cache
    upstream, commits = calc_project(tmp_path / "repos")
    overrides: dict[str, str] = {
        "ATOM_REPOSITORY_ROOTS": str(tmp_path / "repos"),
        "ATOM_PROJECTS_DIR": str(tmp_path / "projects"),
        "ATOM_ENVS_DIR": str(envs),
        "ATOM_BUGS_ARTIFACTS_DIR": str(tmp_path / "runs"),
        "ATOM_ENV_PIP_ARGS": f"--no-index --find-links {wheels} --find-links {wheelhouse}",
    }
    settings.ATOM_REPOSITORY_ROOTS = [tmp_path / "repos"]
    settings.ATOM_PROJECTS_DIR = tmp_path / "projects"
    settings.ATOM_ENVS_DIR = envs
    project = Project.objects.create(slug="calc", name="Calc", repository=upstream.url)
    Suite.objects.create(
        name="calc",
        project=project,
        requirements=["requirements.txt"],
        timeout_seconds=120,
        environment={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    first = _fixed_bug("BUG-701", project, commits["fix701"], TOTAL)
    second = _fixed_bug("BUG-702", project, commits["fix702"], DOUBLED)
    prover = client_for(_holder(django_user_model, "view_bug", "prove_regressions"))
    worker = worker_start(concurrency=2, pool="prefork", **overrides)  # type: ignore[arg-type]
    try:
        with tasks_sent_to(queue):
            for key in ("BUG-701", "BUG-702"):
                assert prover.post(f"/api/v1/bugs/{key}/prove/").status_code == 202
            wait_until(lambda: not RegressionTest.objects.filter(proved_at__isnull=True).exists(), timeout=300, message="the proofs")
            assert RegressionTest.objects.get(bug=first).proof_detail == (
                f"catches its bug: yes (fails at {commits['test701'][:7]}, passes at {commits['fix701'][:7]})"
            )
            assert RegressionTest.objects.get(bug=second).proof_verdict == ProofVerdict.NO

            suite = Suite.objects.get(name="calc")
            old = run_trigger(suite=suite, node_ids=[TOTAL, DOUBLED], trigger=Run.Trigger.API, revision=commits["test701"])
            new = run_trigger(suite=suite, node_ids=[TOTAL, DOUBLED], trigger=Run.Trigger.API)

            def finished(*runs: Run) -> bool:
                return all(Run.objects.get(pk=r.pk).status in TERMINAL_RUN_STATUSES for r in runs)

            wait_until(lambda: finished(old, new), timeout=240, message="two runs at two commits")
            old.refresh_from_db()
            new.refresh_from_db()
            assert (old.commit_sha, old.status, old.failed, old.passed) == (commits["test701"], RunStatus.FAILED, 1, 1)
            assert (new.commit_sha, new.status, new.passed) == (commits["fix702"], RunStatus.PASSED, 2)
            assert Bug.objects.get(key="BUG-701").status == BugStatus.RESOLVED
            assert Bug.objects.get(key="BUG-702").status == BugStatus.FIXED  # its test does not catch it

            upstream.write(
                "calc/__init__.py", (upstream.path / "calc/__init__.py").read_text().replace("sum(xs)", "sum(x for x in xs if x > 0)")
            )
            breaking = upstream.commit("calc: only positive totals")
            broken = run_trigger(suite=suite, bug_keys=["BUG-701"], trigger=Run.Trigger.API)
            wait_until(lambda: Bug.objects.get(key="BUG-701").status == BugStatus.REOPENED, timeout=240, message="the confirming rerun")
            rerun = Run.objects.get(rerun_of=broken)
            assert (Run.objects.get(pk=broken.pk).commit_sha, rerun.commit_sha) == (breaking, breaking)
            assert Bug.objects.get(key="BUG-701").is_regression
    finally:
        worker_stop(worker)
    assert not list((tmp_path / "projects" / "calc" / "worktrees").iterdir())
    report = triage_report()
    assert f"- `{DOUBLED}` (BUG-702): no: passes at the parent {commits['fix701'][:7]}" in report


def test_a_run_names_its_commit_through_the_api_and_a_bad_one_is_refused(django_user_model, client_for) -> None:
    runner = client_for(_holder(django_user_model, "run_regressions", "view_run"))
    Suite.objects.create(name="calc", project=Project.objects.create(slug="calc", name="Calc"))
    for bad in ("--upload-pack=touch", "main branch"):
        refused = runner.post("/api/v1/runs/", {"suite": "calc", "node_ids": [TOTAL], "commit": bad}, format="json")
        assert refused.status_code == 400
        assert "error" in refused.json()
    assert not Run.objects.exists()
    accepted = runner.post("/api/v1/runs/", {"suite": "calc", "node_ids": [TOTAL], "commit": "v1.0"}, format="json")
    assert accepted.status_code == 202
    assert accepted.json()["revision"] == "v1.0"


def test_a_test_moved_since_its_fix_runs_with_its_file_from_the_head_and_its_cases_count_together(calc) -> None:
    upstream, commits, suite = calc
    upstream.git("rm", "-q", "tests/test_total.py")
    upstream.write(
        "tests/unit/test_total.py",
        "import pytest\n\nfrom calc import total\n\n\n"
        "@pytest.mark.parametrize(('xs', 'want'), [([-1, -2, 3], 0), ([1], 1)])\n"
        "def test_total_of_negatives(xs, want):\n    assert total(xs) == want\n",
    )
    head = upstream.commit("Tests under tests/unit, one case more")
    bug = _fixed_bug("BUG-701", suite.project, commits["fix701"], "tests/unit/test_total.py::test_total_of_negatives")
    [(_, verdict)] = regressions_prove(bugs=[bug], workers=1)
    assert verdict.verdict == ProofVerdict.YES
    assert verdict.detail == (
        f"catches its bug: yes (fails at {commits['test701'][:7]}, passes at {commits['fix701'][:7]})"
        f" (the test is not at the fix commit: its file taken from {head[:7]})"
    )


def test_the_bug_page_and_the_admin_show_each_test_s_verdict_and_the_action_needs_its_permission(admin_client, monkeypatch) -> None:
    queued: list[list[str]] = []
    monkeypatch.setattr("bugs.admin.proof_enqueue", lambda *, keys: queued.append(keys))
    bug = make_bug(key="BUG-701", severity="P2", fix_commit="abc1234")
    RegressionTest.objects.create(
        bug=bug, node_id=TOTAL, proof_verdict=ProofVerdict.YES, proof_detail="catches its bug: yes (fails at abc1230, passes at abc1234)"
    )
    page = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert 'data-proof="yes"' in page
    assert "catches its bug: yes (fails at abc1230, passes at abc1234)" in page
    response = admin_client.post("/admin/bugs/bug/", {"action": "prove_regressions", "_selected_action": [bug.pk]}, follow=True)
    assert response.status_code == 200
    assert queued == [["BUG-701"]]
    form = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/?edit=1").content.decode()
    assert "catches its bug: yes" in form


def test_the_suite_admin_refuses_a_bad_interpreter_and_shows_the_build_log(admin_client, tmp_path: Path) -> None:
    project = Project.objects.create(slug="calc", name="Calc")
    data = {
        "name": "calc", "project": project.pk, "checkout_path": "", "python": str(tmp_path / "nope"), "requirements": "[]",
        "pytest_args": "[]", "environment": "{}", "timeout_seconds": 60, "description": "",
        "environments-TOTAL_FORMS": 0, "environments-INITIAL_FORMS": 0,
    }  # fmt: skip
    page = admin_client.post("/admin/bugs/suite/add/", data).content.decode()
    assert f"The interpreter {tmp_path / 'nope'} does not exist." in page
    assert not Suite.objects.filter(name="calc").exists()
    suite = Suite.objects.create(name="calc", project=project)
    build = SuiteEnvironment.objects.create(
        suite=suite, hash="f" * 64, python="/usr/bin/python3", status="failed", log="ERROR: No matching distribution"
    )
    assert "ERROR: No matching distribution" in admin_client.get(f"/admin/bugs/suiteenvironment/{build.pk}/change/").content.decode()
    assert "f" * 12 in admin_client.get(f"/admin/bugs/suite/{suite.pk}/change/").content.decode()


def test_the_linked_cases_of_one_parametrized_test_catch_their_bug_together() -> None:
    from bugs.services.proofs import Verdict, _cases_of_one_test

    bug = Bug(pk=1, key="BUG-701")
    yes = "catches its bug: yes (fails at aaaaaaa, passes at bbbbbbb)"
    verdicts = [
        (bug, Verdict("t.py::test_roles[exact]", ProofVerdict.YES, "a", "b", yes)),
        (bug, Verdict("t.py::test_roles[none]", ProofVerdict.NO, "a", "b", "no: passes at the parent aaaaaaa")),
        (bug, Verdict("t.py::test_other[x]", ProofVerdict.NO, "a", "b", "no: passes at the parent aaaaaaa")),
        (bug, Verdict("t.py::test_other[y]", ProofVerdict.NO, "a", "b", "no: passes at the parent aaaaaaa")),
    ]
    after = {v.node_id: v for _, v in _cases_of_one_test(verdicts)}
    assert after["t.py::test_roles[exact]"].detail == f"{yes} (1 of 2 linked cases of test_roles fail at the parent)"
    assert after["t.py::test_roles[none]"].verdict == ProofVerdict.YES
    assert after["t.py::test_roles[none]"].detail == (
        "catches its bug: yes, as a case of its test (1 of 2 linked cases of test_roles fail at the parent; this case passes there)"
    )
    assert after["t.py::test_other[x]"].verdict == after["t.py::test_other[y]"].verdict == ProofVerdict.NO
