"""The management commands of SPEC section 9: help, errors, exit codes a CI can act on."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bugs.models import Bug, RegressionTest, Run
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.commits import fixes_in
from bugs.services.runs import run_trigger
from bugs.services.shards import run_shard_execute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("command_actor")]


@pytest.mark.parametrize("command", ["export_triage", "import_triage", "run_regressions", "sync_regression_tests", "link_commits"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command(command, "--help")
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("message", "keys"),
    [
        ("Fixes BUG-007", ["BUG-007"]),
        ("fix: closes bug-012 and BUG-013", ["BUG-012", "BUG-013"]),
        ("Resolved BUG-001, BUG-002", ["BUG-001", "BUG-002"]),
        ("Mentions BUG-003 in passing", []),
        ("Prefixes BUG-004", []),
    ],
)
def test_it_reads_fix_trailers(message, keys):
    assert fixes_in(message) == keys


def test_link_commits_sets_fix_commits_and_is_idempotent(project, capsys):
    bug = bug_create(key="BUG-001", title="x", severity="P1")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    bug_create(key="BUG-002", title="y", severity="P0")
    project.write("a.py", "x = 1\n")
    sha = project.commit("Guard the thing\n\nFixes BUG-001\nCloses BUG-002\nResolves BUG-404")
    call_command("link_commits", "--repo", str(project.path))
    out = capsys.readouterr()
    assert "BUG-001: fixed" in out.out
    assert "BUG-002: fix commit recorded, status stays open" in out.err
    assert "BUG-404" in out.err
    first = Bug.objects.get(key="BUG-001")
    assert (first.status, first.fix_commit) == ("fixed", sha)
    assert Bug.objects.get(key="BUG-002").fix_commit == sha
    changes = first.status_changes.count()
    call_command("link_commits", "--repo", str(project.path), "--branch", "main")
    assert Bug.objects.get(key="BUG-001").status_changes.count() == changes


def test_link_commits_fails_clearly_outside_a_repository(tmp_path):
    with pytest.raises(CommandError, match="git history"):
        call_command("link_commits", "--repo", str(tmp_path))


def test_link_commits_refuses_an_option_as_branch(project):
    project.write("a.py", "")
    project.commit("init")
    with pytest.raises(CommandError):
        call_command("link_commits", "--repo", str(project.path), "--branch", "--output=/tmp/x")


def test_sync_regression_tests_links_markers_and_fails_on_unknown_keys(project, suite_for, capsys):
    bug_create(key="BUG-007", title="x", severity="P2")
    project.write(
        "tests/test_a.py",
        "import pytest\n\n@pytest.mark.regression('BUG-007')\ndef test_known():\n    pass\n\n"
        "@pytest.mark.regression('BUG-404')\ndef test_unknown():\n    pass\n\ndef test_plain():\n    pass\n",
    )
    project.commit("tests")
    suite_for(project, name="proj")
    with pytest.raises(SystemExit) as exit_info:
        call_command("sync_regression_tests", "--suite", "proj")
    assert exit_info.value.code == 1
    assert "unknown bug BUG-404 in tests/test_a.py::test_unknown" in capsys.readouterr().err
    assert list(RegressionTest.objects.values_list("bug__key", "node_id", "source")) == [
        ("BUG-007", "tests/test_a.py::test_known", "marker")
    ]


def test_sync_regression_tests_succeeds_when_every_key_is_known(project, suite_for):
    bug_create(key="BUG-007", title="x", severity="P2")
    project.write("tests/test_a.py", "import pytest\n\n@pytest.mark.regression('BUG-007')\ndef test_known():\n    pass\n")
    project.commit("tests")
    suite_for(project, name="proj")
    call_command("sync_regression_tests", "--suite", "proj")
    call_command("sync_regression_tests", "--suite", "proj")
    assert RegressionTest.objects.count() == 1


def test_sync_regression_tests_refuses_an_unknown_suite():
    with pytest.raises(CommandError, match="No suite"):
        call_command("sync_regression_tests", "--suite", "nope")


def _inline_trigger(**kwargs):
    run = run_trigger(**kwargs)
    for shard in run.shards.all():
        run_shard_execute(shard_id=shard.pk, finalize=True)
    return run


@pytest.mark.parametrize(("severity", "exit_code"), [("P0", 1), ("P2", None)])
def test_run_regressions_exits_non_zero_when_a_p0_or_p1_test_fails(project, suite_for, monkeypatch, capsys, severity, exit_code):
    monkeypatch.setattr("bugs.management.commands.run_regressions.run_trigger", _inline_trigger)
    project.write("tests/test_a.py", "def test_a():\n    assert False, 'still broken'\n")
    project.commit("tests")
    suite_for(project, name="proj")
    bug_link_test(bug=bug_create(key="BUG-001", title="x", severity=severity), node_id="tests/test_a.py::test_a")
    if exit_code is None:
        call_command("run_regressions", "--bug", "BUG-001", "--suite", "proj", "--wait")
    else:
        with pytest.raises(SystemExit) as exit_info:
            call_command("run_regressions", "--bug", "BUG-001", "--suite", "proj", "--wait")
        assert exit_info.value.code == exit_code
        assert "FAILED tests/test_a.py::test_a (BUG-001)" in capsys.readouterr().err
    assert Run.objects.get().status == "failed"


def test_run_regressions_refuses_unknown_bugs_and_suites():
    with pytest.raises(CommandError, match="Unknown bugs"):
        call_command("run_regressions", "--bug", "BUG-404")
    with pytest.raises(CommandError, match="No suite"):
        call_command("run_regressions", "--suite", "nope")


def test_seed_demo_data_loads_the_catalog_idempotently():
    from io import StringIO

    from bugs.demo import catalog_load, demo_data_seed

    demo_data_seed(large=False, stdout=StringIO())
    count = Bug.objects.count()
    demo_data_seed(large=False, stdout=StringIO())
    assert Bug.objects.count() == count == len(catalog_load())
