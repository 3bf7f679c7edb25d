"""seed_demo says which app it is seeding and how long each one took."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from tqdm import tqdm

from console.management.commands.seed_demo import SEEDERS

pytestmark = pytest.mark.django_db


def test_it_names_each_app_and_its_duration_in_order():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    apps = [dotted.split(".", 1)[0] for dotted in SEEDERS]
    assert re.findall(r"^Seeding (\w+)\.\.\.$", text, flags=re.MULTILINE) == apps
    assert re.findall(r"^Seeded (\w+) in \d+\.\d s\.$", text, flags=re.MULTILINE) == apps
    assert text.rstrip().endswith(f"Demo data ready ({len(SEEDERS)} apps seeded).")


def _seeder_with_a_bar(*, large: bool, stdout) -> None:
    for _ in tqdm(range(3), desc="fake", file=stdout, mininterval=0):
        pass
    stdout.write("fake: done\n")


def test_progress_bars_are_redrawn_in_place_not_one_line_per_update(monkeypatch):
    monkeypatch.setattr("console.management.commands.seed_demo.SEEDERS", ("console.tests.test_seed_demo._seeder_with_a_bar",))
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    lines = out.getvalue().split("\n")
    bar_lines = [line for line in lines if "fake:" in line and "done" not in line]
    assert len(bar_lines) == 1  # every redraw on the same line, after "\r"
    assert bar_lines[0].count("\r") >= 3
    assert "3/3" in bar_lines[0]
