"""Which links of its project each result of a run answers to: by its node id or by its identity.

Matching is done without a join between results and links. A join on "node id or identity" has no
index to probe, and the planners (SQLite and PostgreSQL alike) read the statistics of a table just
filled by the import as if it were empty: they then compare every result of the run with every link,
and a 55,000-case import ran for minutes (BUG-160). Instead the project's links are read (a few
thousand rows at most), the run's results are looked up by their node ids and identities sent as one
list parameter, which both databases serve from an index or a hash whatever their statistics, and the
pairs are made here. A fixed number of statements, whatever the size of the report.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.db import connection

from bugs.models import FAILING_OUTCOMES, RegressionTest, Result, Run


class LinkMatch(NamedTuple):
    """A result of the run and a link of its project that names the result's node id or identity."""

    link_id: int
    bug_id: int
    result_id: int
    node_id: str
    identity: str
    outcome: str
    is_flaky: bool


def in_list(column: str) -> str:
    """SQL that tests a column against a list sent as one parameter (:func:`list_param`), of any length."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::text[])"
    return f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608  # nosec B608 - a column name of Atom's, values bound


def list_param(values: Iterable[str]) -> Any:
    """The parameter :func:`in_list` reads: an array on PostgreSQL, a JSON list on SQLite."""
    values = list(values)
    return values if connection.vendor == "postgresql" else json.dumps(values)


def run_link_matches(*, run: Run) -> list[LinkMatch]:
    """Every (link, result) pair of the run, for the links of the run's own project only (another
    project may have a test of the same name); three statements whatever the size of the run."""
    project_id = Run.objects.filter(pk=run.pk).values_list("suite__project_id", flat=True).first()
    if project_id is None:
        return []
    by_node: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for link_id, bug_id, node_id in RegressionTest.objects.filter(bug__project_id=project_id).values_list("pk", "bug_id", "node_id"):
        by_node[node_id].append((link_id, bug_id))
    if not by_node:
        return []
    table = connection.ops.quote_name(Result._meta.db_table)
    names = list_param(by_node)
    select = (
        f"SELECT id, node_id, identity, outcome, is_flaky FROM {table} "  # noqa: S608  # nosec B608 - the table from model metadata, values bound
        f"WHERE run_id = %s AND ({in_list('node_id')} OR {in_list('identity')})"
    )
    with connection.cursor() as cursor:
        cursor.execute(select, [run.pk, names, names])
        rows = cursor.fetchall()
    matches = []
    for result_id, node_id, identity, outcome, is_flaky in rows:
        for name in {node_id, identity}:
            for link_id, bug_id in by_node.get(name, ()):
                matches.append(LinkMatch(link_id, bug_id, result_id, node_id, identity, outcome, bool(is_flaky)))
    return matches


def latest_results(matches: Iterable[LinkMatch]) -> dict[int, int]:
    """For each matched link, the result that becomes its latest: the worst of its repeats (any failing
    one before a pass), the first stored among equals."""
    best: dict[int, tuple[int, int]] = {}
    for match in matches:
        rank = (0 if match.outcome in FAILING_OUTCOMES else 1, match.result_id)
        if match.link_id not in best or rank < best[match.link_id]:
            best[match.link_id] = rank
    return {link_id: result_id for link_id, (_, result_id) in best.items()}


def pairs_write(*, postgresql: str, sqlite: str, pairs: Sequence[tuple[int, int]]) -> None:
    """Run a statement over pairs of ids: on PostgreSQL once, reading two arrays (``%s::bigint[]`` twice),
    elsewhere once per pair (``executemany``, in process)."""
    if not pairs:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            first, second = zip(*pairs, strict=True)
            cursor.execute(postgresql, [list(first), list(second)])
        else:
            cursor.executemany(sqlite, [list(pair) for pair in pairs])
