"""Failing results become bugs: create a bug from a group of failures of a run, or attach them to a bug."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from atom.errors import DomainError
from bugs.models import Bug, BugResult, Result
from bugs.services.bugs import bug_create, bug_link_test


def failure_title(result: Result) -> str:
    """A one-line title from the test's name and the first line of its message."""
    name = result.node_id.rsplit("::", 1)[-1]
    first = next((line.strip() for line in result.message.splitlines() if line.strip()), result.outcome)
    return " ".join(f"{name}: {first}".split())[:300]


def failure_description(results: list[Result]) -> str:
    """Where the failures were seen: the run, its commit and branch, and each failing test."""
    run = results[0].run
    where = f"run #{run.pk}" + (f" at commit {run.commit_sha}" if run.commit_sha else "") + (f" on {run.branch}" if run.branch else "")
    tests = "\n".join(f"- {result.node_id} ({result.outcome})" for result in results)
    return f"Failed on {where}.\n\n{tests}"


def failure_actual(results: list[Result]) -> str:
    """The message and traceback excerpt of the first failure."""
    first = results[0]
    return "\n\n".join(part for part in (first.message, first.traceback[-4000:]) if part)


@transaction.atomic
def bug_attach_results(*, bug: Bug, results: list[Result]) -> int:
    """Link each failing test to the bug and attach its result (idempotent); return how many results are new."""
    if not results:
        raise DomainError("No failing result to attach.", code="NO_RESULTS")
    for node_id in sorted({result.node_id for result in results}):
        bug_link_test(bug=bug, node_id=node_id)
    known = set(BugResult.objects.filter(bug=bug, result__in=results).values_list("result_id", flat=True))
    BugResult.objects.bulk_create([BugResult(bug=bug, result=result) for result in results], ignore_conflicts=True)
    return len({result.pk for result in results} - known)


@transaction.atomic
def bug_create_from_results(*, results: list[Result], actor: Any, title: str, severity: str, **fields: Any) -> Bug:
    """A new bug taking a group of failures of one run: its tests linked, its results attached.

    The caller pre-fills ``title`` and the fields with :func:`failure_title`, :func:`failure_description`
    and :func:`failure_actual`; the operator may have edited them.
    """
    if not results:
        raise DomainError("No failing result to create a bug from.", code="NO_RESULTS")
    if len({result.run_id for result in results}) != 1:
        raise DomainError("A bug is created from the failures of one run.", code="MIXED_RUNS")
    run = results[0].run
    bug = bug_create(
        title=title, severity=severity, actor=actor, reason=f"Created from {len(results)} failure(s) of run #{run.pk}.", **fields
    )
    bug_attach_results(bug=bug, results=results)
    return bug
