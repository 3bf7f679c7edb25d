"""Demo data: Atom's own bug catalog, loaded from bugs/catalog/atom_bugs.json (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from django.db import transaction

from bugs.models import Bug, RegressionTest, Severity
from bugs.services.bugs import bug_create, bug_transition, bug_update, suite_default
from bugs.services.runs import node_id_validate

CATALOG = Path(__file__).resolve().parent.parent / "catalog" / "atom_bugs.json"
_CATALOG_FIELDS = ("category", "component", "description", "root_cause", "reproduction", "expected", "actual", "fix_strategy")


def catalog_load(path: Path = CATALOG) -> list[dict[str, Any]]:
    """The catalog entries: a JSON list of bugs with their tests and fix commits."""
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path.name} must hold a JSON list of bugs")
    return data


@transaction.atomic
def demo_data_seed(*, large: bool, stdout: TextIO) -> None:
    """Load Atom's own bug catalog and make sure the default suite exists; safe to run again.

    Bugs are created with their tests linked; a catalogued fix commit moves the bug to fixed, so the
    first regression run on a commit containing it resolves the bug. ``large`` adds nothing here:
    the catalog is real, never padded.
    """
    suite_default()
    created = 0
    for entry in catalog_load():
        fields = {k: entry[k] for k in _CATALOG_FIELDS if entry.get(k)}
        bug = Bug.objects.filter(key=entry["key"]).first()
        if bug is None:
            bug = bug_create(
                key=entry["key"], title=entry["title"], severity=Severity(entry["severity"]), reason="Atom's bug catalog.", **fields
            )
            created += 1
        else:
            bug = bug_update(bug=bug, **{k: v for k, v in fields.items() if getattr(bug, k) != v})
        for node_id in entry.get("tests", []):
            RegressionTest.objects.get_or_create(
                bug=bug, node_id=node_id_validate(node_id), defaults={"source": RegressionTest.Source.MANUAL}
            )
        fix_commit = entry.get("fix_commit", "")
        if fix_commit and bug.status in ("open", "in_progress", "reopened"):
            bug_transition(bug=bug, to_status="fixed", fix_commit=fix_commit, reason="Fix commit from Atom's bug catalog.", automatic=True)
    stdout.write(f"Bugs: catalog loaded ({created} new, {Bug.objects.count()} in total).\n")
