"""Load the demo data of every app (used by `make run`); safe to run again."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

# Each app's services expose ``demo_data_seed(*, large: bool, stdout: TextIO) -> None``, idempotent.
SEEDERS: tuple[str, ...] = (
    "governance.demo.demo_data_seed",
    "episodes.demo.demo_data_seed",
    "bugs.demo.demo_data_seed",
    "accounts.services.demo_data_seed",
)


class Command(BaseCommand):
    help = "Create the demo data: agents of every tier with the action map, episodes, and Atom's own bug catalog."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--large", action="store_true", help="Also fill enough data to exercise the dashboard at scale.")

    def handle(self, *args: Any, large: bool, **options: Any) -> None:
        # Seeders write whole lines and redraw progress bars with "\r": the wrapper must add no newline of its own.
        self.stdout.ending = ""
        for dotted in SEEDERS:
            app = dotted.split(".", 1)[0]
            self.stdout.write(f"Seeding {app}{' (large)' if large else ''}...\n")
            started = time.perf_counter()
            import_string(dotted)(large=large, stdout=self.stdout)
            self.stdout.write(f"Seeded {app} in {time.perf_counter() - started:.1f} s.\n")
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({len(SEEDERS)} apps seeded).") + "\n")
