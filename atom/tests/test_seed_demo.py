"""seed_demo says which app it is seeding and how long each one took."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from atom.management.commands.seed_demo import SEEDERS

pytestmark = pytest.mark.django_db


def test_it_names_each_app_and_its_duration_in_order():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    apps = [dotted.split(".", 1)[0] for dotted in SEEDERS]
    assert re.findall(r"^Seeding (\w+)\.\.\.$", text, flags=re.MULTILINE) == apps
    assert re.findall(r"^Seeded (\w+) in \d+\.\d s\.$", text, flags=re.MULTILINE) == apps
    assert text.rstrip().endswith(f"Demo data ready ({len(SEEDERS)} apps seeded).")
