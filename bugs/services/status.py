"""Every status rule of SPEC section 6, in one place.

The transitions a person may make, the evidence a resolution needs, the test a P0 or P1 needs, and the
automatic part applied after each run: verification, reopening of confirmed regressions, flaky tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, Count, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from atom.errors import DomainError
from bugs import git
from bugs.models import (
    FAILING_OUTCOMES,
    INTERRUPTED_RUN_STATUSES,
    Bug,
    BugResult,
    BugStatus,
    BugStatusChange,
    Outcome,
    ProofVerdict,
    RegressionTest,
    Result,
    Run,
    RunStatus,
    Severity,
)
from bugs.services.links import LinkMatch, in_list, latest_results, list_param, pairs_write, run_link_matches
from bugs.services.suites import suite_repository

# Severities that may not be resolved, or closed as fixed, without a linked regression test.
TEST_REQUIRED_SEVERITIES = (Severity.P0, Severity.P1)

# The status machine of SPEC section 6: from each status, where a person may move a bug.
# "resolved" is reachable only with evidence (a passing linked test on a commit containing the fix).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    BugStatus.OPEN: frozenset({BugStatus.IN_PROGRESS, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.IN_PROGRESS: frozenset({BugStatus.OPEN, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.FIXED: frozenset({BugStatus.IN_PROGRESS, BugStatus.RESOLVED, BugStatus.REOPENED}),
    BugStatus.RESOLVED: frozenset({BugStatus.REOPENED}),
    BugStatus.REOPENED: frozenset({BugStatus.IN_PROGRESS, BugStatus.FIXED, BugStatus.DOCUMENTED, BugStatus.WONT_FIX, BugStatus.DUPLICATE}),
    BugStatus.DOCUMENTED: frozenset({BugStatus.REOPENED}),
    BugStatus.WONT_FIX: frozenset({BugStatus.REOPENED}),
    BugStatus.DUPLICATE: frozenset({BugStatus.REOPENED}),
}


class StatusRefused(DomainError):
    """A status change the rules do not allow."""

    status_code = 409
    code = "STATUS_REFUSED"


def _record(bug: Bug, *, from_status: str, to_status: str, actor: Any, reason: str, automatic: bool, run: Run | None = None) -> None:
    BugStatusChange.objects.create(
        bug=bug, from_status=from_status, to_status=to_status, actor=actor, automatic=automatic, reason=reason[:5000], run=run
    )


@dataclass(frozen=True)
class Evidence:
    """The passing result that proves a fix, and the run it came from."""

    result: Result
    run: Run


def bug_evidence(*, bug: Bug, flaky_node_ids: frozenset[str] = frozenset()) -> Evidence | None:
    """The latest passing result of a linked test on a run whose commit contains the fix commit.

    Results of tests that are flaky on their commit, or quarantined, or of a run that did not go to
    the end, are no evidence.
    """
    if not bug.fix_commit:
        return None
    linked = set(RegressionTest.objects.filter(bug=bug, quarantined=False).values_list("node_id", flat=True))
    attached = BugResult.objects.filter(bug=bug).values("result")
    flaky_commits = dict(RegressionTest.objects.filter(bug=bug, is_flaky=True).values_list("node_id", "flaky_commit"))
    candidates = (
        Result.objects.filter(Q(node_id__in=linked) | Q(identity__in=linked), pk__in=attached, outcome=Outcome.PASSED)
        .exclude(run__commit_sha="")
        .exclude(run__status__in=INTERRUPTED_RUN_STATUSES)
        .select_related("run__suite")
        .order_by("-run_id")[:50]
    )
    # A run where a linked test (any repeat of an identity) failed proves nothing, whatever else passed.
    failing = Result.objects.filter(Q(node_id__in=linked) | Q(identity__in=linked), pk__in=attached, outcome__in=FAILING_OUTCOMES)
    failed_runs = set(failing.values_list("run_id", flat=True))
    for result in candidates:
        flaky_here = result.run.commit_sha in (flaky_commits.get(result.node_id), flaky_commits.get(result.identity))
        if result.run_id in failed_runs or result.node_id in flaky_node_ids or result.is_flaky or flaky_here:
            continue
        if git.contains(suite_repository(result.run.suite), commit=result.run.commit_sha, ancestor=bug.fix_commit):
            return Evidence(result=result, run=result.run)
    return None


def proof_refusal(*, bug: Bug) -> str | None:
    """Why the bug cannot be resolved on its tests' proofs: a linked test that does not catch it (verdict
    "no": it passes at the parent of the fix). Unproven tests block nothing."""
    caught = (
        RegressionTest.objects.filter(bug=bug, proof_verdict=ProofVerdict.NO)
        .order_by("node_id")
        .values_list("node_id", "proof_detail")
        .first()
    )
    if caught is None:
        return None
    node_id, detail = caught
    return f"{node_id} does not catch its bug ({detail}): a test that passes without the fix cannot verify it."


def bug_status_refusal(*, bug: Bug, to_status: str, fix_commit: str | None = None, duplicate_of: Bug | None = None) -> str | None:
    """Why the rules refuse moving the bug to ``to_status`` (None when they allow it).

    One function answers for the services, the admin form and the API, so the rules live once.
    """
    if to_status not in BugStatus.values:
        return f"{to_status!r} is not a status."
    if to_status == bug.status:
        return _fix_commit_change_refusal(bug=bug, fix_commit=fix_commit)
    if to_status not in ALLOWED_TRANSITIONS[bug.status]:
        return f"A {bug.get_status_display().lower()} bug cannot move to {BugStatus(to_status).label.lower()}."
    commit = bug.fix_commit if fix_commit is None else fix_commit
    needs_test = bug.severity in TEST_REQUIRED_SEVERITIES
    if to_status == BugStatus.FIXED:
        if not commit:
            return "A bug is fixed by a commit: give the fix commit."
        if needs_test and not bug.regression_tests.exists():
            return f"A {bug.severity} bug cannot be closed as fixed without a linked regression test."
    if to_status == BugStatus.RESOLVED:
        if needs_test and not bug.regression_tests.exists():
            return f"A {bug.severity} bug cannot be resolved without a linked regression test."
        blocked = proof_refusal(bug=bug)
        if blocked:
            return blocked
        if bug_evidence(bug=bug) is None:
            return "Resolved needs a linked regression test that passed on a run whose commit contains the fix commit."
    if to_status == BugStatus.DUPLICATE:
        if duplicate_of is None:
            return "A duplicate names the bug it duplicates."
        if _duplicate_chain_reaches(start=duplicate_of, bug=bug):
            return "A bug cannot duplicate itself, directly or through a chain of duplicates."
    return None


def _duplicate_chain_reaches(*, start: Bug, bug: Bug) -> bool:
    """Whether ``start`` or a bug it is (transitively) a duplicate of is ``bug``."""
    seen: set[int] = set()
    current: int | None = start.pk
    while current is not None and current not in seen:
        if current == bug.pk:
            return True
        seen.add(current)
        current = Bug.objects.filter(pk=current).values_list("duplicate_of_id", flat=True).first()
    return False


def _fix_commit_change_refusal(*, bug: Bug, fix_commit: str | None) -> str | None:
    """Why the rules refuse changing the fix commit while the status stays (None when they allow it)."""
    if fix_commit is None or fix_commit == bug.fix_commit:
        return None
    if bug.status in (BugStatus.FIXED, BugStatus.RESOLVED) and not fix_commit:
        return "A fixed or resolved bug keeps its fix commit."
    if bug.status == BugStatus.RESOLVED:
        return "A resolved bug's fix commit was verified by a run: reopen the bug to change it."
    return None


@transaction.atomic
def bug_transition(
    *,
    bug: Bug,
    to_status: str,
    actor: Any = None,
    reason: str,
    fix_commit: str | None = None,
    duplicate_of: Bug | None = None,
    automatic: bool = False,
    run: Run | None = None,
    evidence: Evidence | None = None,
    regression: bool = False,
) -> Bug:
    """Move a bug to another status under the rules of SPEC section 6 and record who, when and why.

    ``regression`` marks a reopening as a confirmed regression (a resolved bug whose test failed again).
    """
    bug = Bug.objects.select_for_update().get(pk=bug.pk)
    if fix_commit is not None:
        fix_commit = git.sha_normalize(fix_commit)
        if fix_commit and not git.is_sha(fix_commit):
            raise DomainError("The fix commit must be a commit hash.", code="INVALID_COMMIT")
    if evidence is None:
        refusal = bug_status_refusal(bug=bug, to_status=to_status, fix_commit=fix_commit, duplicate_of=duplicate_of)
    else:
        refusal = proof_refusal(bug=bug) if to_status == BugStatus.RESOLVED else None
    if refusal:
        raise StatusRefused(refusal, details={"bug": bug.key, "from": bug.status, "to": to_status})
    if to_status == bug.status and fix_commit in (None, bug.fix_commit):
        return bug
    previous = bug.status
    if fix_commit is not None:
        bug.fix_commit = fix_commit
    if to_status == BugStatus.RESOLVED:
        found = evidence or bug_evidence(bug=bug)
        assert found is not None  # bug_status_refusal checked it
        bug.verified_by = found.result
        bug.resolved_at = timezone.now()
        bug.is_regression = False
        bug.verification_note = (
            f"{found.result.node_id} passed on run #{found.run.pk} at {found.run.commit_sha[:12]}, which contains {bug.fix_commit[:12]}."
        )
    elif to_status == BugStatus.REOPENED:
        bug.verified_by = None
        bug.resolved_at = None
        if regression:
            bug.is_regression = True
    bug.duplicate_of = duplicate_of if to_status == BugStatus.DUPLICATE else None
    bug.status = to_status
    bug.save()
    _record(bug, from_status=previous, to_status=to_status, actor=actor, reason=reason, automatic=automatic, run=run)
    return bug


def bug_mark_duplicate(*, bugs: list[Bug], of: Bug, actor: Any = None, reason: str = "") -> int:
    """Close each bug as a duplicate of ``of`` (skipping ``of`` itself); return how many moved."""
    moved = 0
    for bug in bugs:
        if bug.pk == of.pk or (bug.status == BugStatus.DUPLICATE and bug.duplicate_of_id == of.pk):
            continue
        bug_transition(bug=bug, to_status=BugStatus.DUPLICATE, duplicate_of=of, actor=actor, reason=reason or f"Duplicate of {of.key}.")
        moved += 1
    return moved


def _flaky_node_ids(run: Run, matches: list[LinkMatch] | None = None) -> set[str]:
    """Linked tests of this run that both passed and failed on its commit (in this run or another).

    Only tests linked to a bug are looked at: flakiness is flagged on the links, and a 55,000-case
    import must not group every result of the commit to find the few hundred that matter. ``matches``
    are the run's link matches when the caller has read them already.
    """
    if matches is None:
        matches = run_link_matches(run=run)
    ran_linked = {match.node_id for match in matches}
    table = connection.ops.quote_name(Result._meta.db_table)
    flaky = {match.node_id for match in matches if match.is_flaky}
    if run.commit_sha and ran_linked:
        mixed = (
            Result.objects.filter(
                run__in=Run.objects.filter(commit_sha=run.commit_sha, suite__project_id=int(run.suite.project_id or 0))
                .exclude(status__in=INTERRUPTED_RUN_STATUSES)
                .values("pk"),
            )
            # A column of the model and a bound list: the node ids travel as one parameter however many.
            .filter(RawSQL(in_list(f"{table}.node_id"), [list_param(ran_linked)], output_field=BooleanField()))  # noqa: S611  # nosec B611
            .values("node_id")
            .annotate(
                passes=Count("pk", filter=Q(outcome=Outcome.PASSED)),
                fails=Count("pk", filter=Q(outcome__in=FAILING_OUTCOMES)),
            )
            .filter(passes__gt=0, fails__gt=0)
            .values_list("node_id", flat=True)
        )
        flaky.update(mixed)
    return flaky


def run_apply_rules(*, run: Run) -> list[str]:
    """The automatic part of SPEC section 6, applied to the bugs whose tests ran in this run.

    - Every linked test keeps its latest result. Nothing else follows from a run that did not go to the
      end (error, timed out, cancelled): it neither resolves, reopens nor flags a test flaky.
    - A test that passed and failed on one commit is flagged flaky and moves no bug.
    - A quarantined link still records its latest result but moves no bug.
    - fixed → resolved when a linked test passed here and the run's commit contains the fix commit.
    - resolved → reopened (flagged as a regression) when a linked test fails again on a commit that
      contains the fix, once confirmed: by a rerun inside the run (attempts > 1, a tool's rerun elements
      in an imported report too), by a confirmation run, or, for an import, by another import of the
      same test failing that is different evidence (another file from another CI build).

    Returns the node ids that need a confirmation run (empty when none is due); the caller queues it.
    """
    ran = Result.objects.filter(run=run)
    # The links of the run's own project only: another project may have a test of the same name.
    own_links = RegressionTest.objects.filter(bug__project_id=int(run.suite.project_id or 0))
    matches = run_link_matches(run=run)
    # A link to an identity gets the worst of its repeats: any failing repeat fails it.
    table = connection.ops.quote_name(RegressionTest._meta.db_table)
    pairs_write(
        postgresql=f"UPDATE {table} SET last_result_id = latest.result_id FROM unnest(%s::bigint[], %s::bigint[]) "  # noqa: S608  # nosec B608
        f"AS latest(result_id, id) WHERE {table}.id = latest.id",
        sqlite=f"UPDATE {table} SET last_result_id = %s WHERE id = %s",  # noqa: S608  # nosec B608
        pairs=[(result_id, link_id) for link_id, result_id in sorted(latest_results(matches).items())],
    )
    if run.status in INTERRUPTED_RUN_STATUSES:
        return []
    flaky = _flaky_node_ids(run, matches)
    if flaky:
        identities = ran.filter(node_id__in=flaky).values("identity")
        own_links.filter(Q(node_id__in=flaky) | Q(node_id__in=identities)).update(is_flaky=True, flaky_commit=run.commit_sha)
    attached: dict[int, list[Result]] = defaultdict(list)
    for link in BugResult.objects.filter(result__run=run, bug__status__in=(BugStatus.FIXED, BugStatus.RESOLVED)).select_related("result"):
        attached[link.bug_id].append(link.result)
    if not attached:
        return []
    repo_or_none = suite_repository(run.suite)
    to_confirm: set[str] = set()
    confirmed_by = _confirmed_failures(run)
    quarantined = set(RegressionTest.objects.filter(bug_id__in=attached, quarantined=True).values_list("bug_id", "node_id"))
    for bug in Bug.objects.filter(pk__in=attached):
        results = [r for r in attached[bug.pk] if r.node_id not in flaky and not {(bug.pk, r.node_id), (bug.pk, r.identity)} & quarantined]
        failing = [r for r in results if r.outcome in FAILING_OUTCOMES]
        passing = [r for r in results if r.outcome == Outcome.PASSED]
        contains_fix = git.contains(repo_or_none, commit=run.commit_sha, ancestor=bug.fix_commit)
        if not contains_fix:
            continue
        if bug.status == BugStatus.FIXED and passing and not failing and proof_refusal(bug=bug) is None:
            bug_transition(
                bug=bug,
                to_status=BugStatus.RESOLVED,
                reason=f"{passing[0].node_id} passed on run #{run.pk} at {run.commit_sha[:12]}, which contains the fix.",
                automatic=True,
                run=run,
                evidence=Evidence(result=passing[0], run=run),
            )
        elif bug.status == BugStatus.RESOLVED and failing:
            imported = _imported_confirmations(run, failing)
            confirmed = [
                r
                for r in failing
                if r.attempts > 1
                or r.node_id in confirmed_by
                or any(git.contains(repo_or_none, commit=sha, ancestor=bug.fix_commit) for sha in imported.get(r.identity or r.node_id, ()))
            ]
            if confirmed:
                bug_transition(
                    bug=bug,
                    to_status=BugStatus.REOPENED,
                    reason=(
                        f"Regression: {confirmed[0].node_id} failed again on run #{run.pk} at {run.commit_sha[:12]}, confirmed by "
                        + ("another import." if confirmed[0].attempts < 2 and confirmed[0].node_id not in confirmed_by else "a rerun.")
                    ),
                    automatic=True,
                    run=run,
                    regression=True,
                )
            else:
                to_confirm.update(r.node_id for r in failing)
    if to_confirm and run.trigger not in (Run.Trigger.IMPORT, Run.Trigger.RERUN) and not run.reruns.exists():
        return sorted(to_confirm)
    return []


def _confirmed_failures(run: Run) -> set[str]:
    """For a confirmation rerun: the tests that failed in the run it reruns too."""
    if run.trigger != Run.Trigger.RERUN or run.rerun_of_id is None:
        return set()
    return set(Result.objects.filter(run_id=run.rerun_of_id, outcome__in=FAILING_OUTCOMES).values_list("node_id", flat=True))


def _imported_confirmations(run: Run, failing: list[Result]) -> dict[str, set[str]]:
    """For an import: the commits where another import, different evidence, failed the same tests too.

    Different evidence is another file (another upload hash) from another CI build: the same upload
    sent twice, or two files of one build, confirm nothing. Tests are matched by identity, so any
    failing repeat of a test counts. Returns identity → commits of those other imports.
    """
    if run.trigger != Run.Trigger.IMPORT or not run.upload_sha256 or not run.build:
        return {}
    others = (
        Result.objects.filter(
            identity__in={r.identity or r.node_id for r in failing},
            outcome__in=FAILING_OUTCOMES,
            run__trigger=Run.Trigger.IMPORT,
            run__status__in=(RunStatus.FAILED,),
        )
        .exclude(run=run)
        .exclude(run__upload_sha256__in=("", run.upload_sha256))
        .exclude(run__build__in=("", run.build))
        .values_list("identity", "run__commit_sha")
        .distinct()
    )
    found: dict[str, set[str]] = defaultdict(set)
    for identity, commit_sha in others:
        found[identity].add(commit_sha)
    return found
