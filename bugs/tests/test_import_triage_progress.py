"""import_triage on a large report: a progress bar on stderr, the same summary and exit codes as before."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from tqdm import tqdm

from bugs.models import Bug
from bugs.services.triage import triage_import

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("command_actor")]


def _report(count: int) -> str:
    sections = [
        f"### BUG-{number:03d}: Generated bug {number}\n\n**Severity:** P{number % 4}\n**Category:** Quality\nStatus: OPEN\n"
        for number in range(100, 100 + count)
    ]
    return "# Bug Triage Report\n\n" + "\n".join(sections)


def test_it_shows_a_progress_bar_that_reaches_every_bug(tmp_path, capsys):
    report = tmp_path / "large.md"
    report.write_text(_report(60))
    call_command("import_triage", str(report))
    captured = capsys.readouterr()
    assert captured.out == "60 created, 0 updated, 0 unchanged, 0 refused.\n"
    assert "import_triage: 100%" in captured.err
    assert "60/60" in captured.err
    assert Bug.objects.count() == 60


def test_a_second_import_reports_everything_unchanged(tmp_path, capsys):
    report = tmp_path / "large.md"
    report.write_text(_report(10))
    call_command("import_triage", str(report))
    capsys.readouterr()
    call_command("import_triage", str(report))
    captured = capsys.readouterr()
    assert captured.out == "0 created, 0 updated, 10 unchanged, 0 refused.\n"
    assert "10/10" in captured.err


def test_an_empty_report_still_fails_with_one_line(tmp_path):
    report = tmp_path / "empty.md"
    report.write_text("# Bug Triage Report\n\nNothing here.\n")
    with pytest.raises(CommandError, match="holds no bugs"):
        call_command("import_triage", str(report))
    assert not Bug.objects.exists()


def test_the_bar_moves_as_the_import_reaches_each_bug():
    from bugs.management.commands.import_triage import BugsReached

    keys = [f"BUG-{number:03d}" for number in range(100, 105)]
    seen: list[float] = []
    bar = tqdm(total=len(keys), file=io.StringIO())
    watcher = BugsReached(keys, bar)

    def record(execute, sql, params, many, context):
        seen.append(bar.n)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record), connection.execute_wrapper(watcher):
        triage_import(text=_report(5))
    assert bar.n == len(keys)
    assert not watcher.pending
    assert set(seen) >= {1, 2, 3, 4}  # it advanced bug by bug, not at the end only
