"""Every admin action by role {superuser; staff with exactly the needed permission; staff with view only; staff with
none}: only the superuser and the holder of the action's permission act. A refusal changes nothing and writes
no row claiming success. Being staff grants nothing by itself.

"Exactly the needed permission" is the action's own permission plus the view permission of the list the
action sits on (without it the list itself is out of reach).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from bugs.models import Bug, Project, Run, Suite
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.projects import project_create
from bugs.tests.factories import make_run
from governance.models import (
    AgentState,
    AuditEntry,
    Maturity,
    MaturityChange,
    Proposal,
    ProposalStatus,
    SupervisionSession,
    SupervisionStatus,
)
from governance.services.actions import agent_action_request
from governance.services.proposals import proposal_create
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db

ROLES = ("superuser", "exact", "view-only", "none")


@dataclass(frozen=True)
class ActionCase:
    """One admin action: where it lives, what it needs, how to set it up and how to tell it acted."""

    model: str  # "app_label.model"
    action: str
    permission: str  # "app_label.codename" of the action
    arrange: Callable[[], dict[str, Any]]
    acted: Callable[[dict[str, Any], Any], bool]
    extra: Callable[[dict[str, Any]], dict[str, Any]] = lambda _: {}


def _agent(state: str = AgentState.ACTIVE, maturity: str = Maturity.STUDENT) -> dict[str, Any]:
    return {"object": make_agent(state=state, maturity=maturity)}


def _state_is(state: str) -> Callable[[dict[str, Any], Any], bool]:
    return lambda ctx, _response: type(ctx["object"]).objects.get(pk=ctx["object"].pk).state == state


def _maturity_is(maturity: str) -> Callable[[dict[str, Any], Any], bool]:
    return lambda ctx, _response: type(ctx["object"]).objects.get(pk=ctx["object"].pk).maturity == maturity


def _proposal() -> dict[str, Any]:
    agent = make_agent(maturity=Maturity.INTERN)
    proposal = proposal_create(agent=agent, actor=agent.owner, action="create", complexity=3, params={}, cost=Decimal("0"))
    return {"object": proposal}


def _proposal_left_pending(ctx: dict[str, Any], _response: Any) -> bool:
    return Proposal.objects.get(pk=ctx["object"].pk).status != ProposalStatus.PENDING


def _supervision() -> dict[str, Any]:
    agent = make_agent(maturity=Maturity.SUPERVISED)
    agent_action_request(actor=agent.owner, agent_id=agent.pk, action="send_email", params={}, cost=Decimal("0"))
    return {"object": SupervisionSession.objects.get(agent=agent)}


def _bug_with_test() -> dict[str, Any]:
    bug = bug_create(key="BUG-001", title="x", severity="P2")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    return {"object": bug}


PROOFS_QUEUED: list[list[str]] = []


def _bug_with_test_and_fix() -> dict[str, Any]:
    ctx = _bug_with_test()
    Bug.objects.filter(pk=ctx["object"].pk).update(fix_commit="abc1234")
    return ctx


def _two_bugs() -> dict[str, Any]:
    original = bug_create(key="BUG-001", title="x", severity="P2")
    return {"object": bug_create(key="BUG-002", title="x again", severity="P2"), "original": original}


def _message_says(*words: str) -> Callable[[dict[str, Any], Any], bool]:
    def acted(_ctx: dict[str, Any], response: Any) -> bool:
        texts = [str(message) for message in get_messages(response.wsgi_request)]
        return any(word in text for text in texts for word in words)

    return acted


def _user_signed_out(ctx: dict[str, Any], _response: Any) -> bool:
    from accounts.models import TokenGeneration

    return TokenGeneration.objects.filter(user=ctx["object"], generation__gt=0).exists()


CASES: dict[str, ActionCase] = {
    "agent-pause": ActionCase("governance.agent", "pause", "governance.pause_agent", _agent, _state_is(AgentState.PAUSED)),
    "agent-resume": ActionCase(
        "governance.agent", "resume", "governance.resume_agent", lambda: _agent(AgentState.PAUSED), _state_is(AgentState.ACTIVE)
    ),
    "agent-promote": ActionCase(
        "governance.agent",
        "promote",
        "governance.promote_agent",
        _agent,
        _maturity_is(Maturity.INTERN),
        lambda _: {"apply": "1", "reason": "earned it"},
    ),
    "agent-demote": ActionCase(
        "governance.agent",
        "demote",
        "governance.demote_agent",
        lambda: _agent(maturity=Maturity.INTERN),
        _maturity_is(Maturity.STUDENT),
        lambda _: {"apply": "1", "reason": "slipped"},
    ),
    "agent-graduate": ActionCase(
        "governance.agent", "graduate", "governance.graduate_agent", _agent, _message_says("not ready", "graduated")
    ),
    "proposal-approve": ActionCase("governance.proposal", "approve", "governance.approve_proposal", _proposal, _proposal_left_pending),
    "proposal-reject": ActionCase("governance.proposal", "reject", "governance.reject_proposal", _proposal, _proposal_left_pending),
    "supervision-close": ActionCase(
        "governance.supervisionsession",
        "close",
        "governance.close_supervision",
        _supervision,
        lambda ctx, _r: SupervisionSession.objects.get(pk=ctx["object"].pk).status == SupervisionStatus.CLOSED,
    ),
    "bug-run-regression-tests": ActionCase(
        "bugs.bug", "run_regression_tests", "bugs.run_regressions", _bug_with_test, lambda _c, _r: Run.objects.exists()
    ),
    "bug-prove-regressions": ActionCase(
        "bugs.bug", "prove_regressions", "bugs.prove_regressions", _bug_with_test_and_fix, lambda _c, _r: bool(PROOFS_QUEUED)
    ),
    "bug-export-triage-report": ActionCase(
        "bugs.bug",
        "export_triage_report",
        "bugs.export_triage_report",
        _bug_with_test,
        lambda _c, response: response.get("Content-Disposition", "").startswith("attachment"),
    ),
    "bug-mark-duplicate": ActionCase(
        "bugs.bug",
        "mark_duplicate",
        "bugs.mark_duplicate_bug",
        _two_bugs,
        lambda ctx, _r: Bug.objects.get(pk=ctx["object"].pk).status == "duplicate",
        lambda ctx: {"duplicate_of": ctx["original"].key},
    ),
    "run-cancel": ActionCase(
        "bugs.run",
        "cancel_runs",
        "bugs.cancel_run",
        lambda: {"object": make_run(status="queued")},
        lambda ctx, _r: Run.objects.get(pk=ctx["object"].pk).status == "cancelled",
    ),
    "suite-run": ActionCase(
        "bugs.suite",
        "run_suite",
        "bugs.run_regressions",
        lambda: {"object": Suite.objects.get_or_create(name="default")[0]},
        lambda _c, _r: Run.objects.exists(),
    ),
    "project-link-commits-now": ActionCase(
        "bugs.project",
        "link_commits_now",
        "bugs.link_project_commits",
        lambda: {"object": project_create(slug="tiny", name="Tiny")},
        lambda ctx, _r: Project.objects.get(pk=ctx["object"].pk).commits_linked_at is not None,
    ),
    "project-export-triage-report": ActionCase(
        "bugs.project",
        "export_triage_report",
        "bugs.export_triage_report",
        lambda: {"object": project_create(slug="tiny", name="Tiny")},
        lambda _c, response: response.get("Content-Disposition", "").startswith("attachment"),
    ),
    "user-sign-out-everywhere": ActionCase(
        "auth.user",
        "sign_out_everywhere",
        "accounts.sign_out_users",
        lambda: {"object": get_user_model().objects.create_user("target", password="correct horse battery staple")},
        _user_signed_out,
    ),
}


def permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def staff_with(*names: str) -> Any:
    user = get_user_model().objects.create_user("staff", password="correct horse battery staple", is_staff=True)
    user.user_permissions.set([permission(name) for name in names])
    return user


def actor_for(role: str, case: ActionCase) -> Any:
    app_label, model = case.model.split(".")
    view = f"{app_label}.view_{model}"
    if role == "superuser":
        return get_user_model().objects.create_superuser("root", password="correct horse battery staple")
    if role == "exact":
        return staff_with(view, case.permission)
    if role == "view-only":
        return staff_with(view)
    return staff_with()


def history_rows() -> tuple[int, int]:
    """Rows that would claim an act happened: audit entries and tier changes."""
    return AuditEntry.objects.count(), MaturityChange.objects.count()


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    PROOFS_QUEUED.clear()
    monkeypatch.setattr("bugs.admin.proof_enqueue", lambda *, keys: PROOFS_QUEUED.append(keys))


@pytest.mark.regression("BUG-091")
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case_name", CASES)
def test_p1_security_admin_actions_ignore_permissions_regression(case_name, role):
    """BUG-091 (P1, security): admin actions ran for staff holding only view permissions: one promoted
    another owner's agent to AUTONOMOUS, paused agents, approved a proposal that then ran and was charged,
    and queued a regression run. No action stated ``allowed_permissions``."""
    case = CASES[case_name]
    ctx = case.arrange()
    actor = actor_for(role, case)
    browser = Client()
    browser.force_login(actor)
    before = history_rows()
    app_label, model = case.model.split(".")
    response = browser.post(
        reverse(f"admin:{app_label}_{model}_changelist"),
        {"action": case.action, "_selected_action": [ctx["object"].pk], **case.extra(ctx)},
    )
    may_act = role in ("superuser", "exact")
    assert case.acted(ctx, response) is may_act
    if not may_act:
        assert history_rows() == before


def test_every_admin_action_is_in_the_table():
    """A new action cannot slip in without its row: every action of every registered admin is covered."""
    covered = {(case.model, case.action) for case in CASES.values()}
    declared = {
        (f"{model._meta.app_label}.{model._meta.model_name}", name)
        for model, model_admin in admin.site._registry.items()
        for name in (model_admin.actions or [])
        if isinstance(name, str)
    }
    assert declared <= covered, sorted(declared - covered)


def test_every_admin_action_states_its_permissions():
    missing = []
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.actions or []:
            function = getattr(model_admin, name) if isinstance(name, str) else name
            if not getattr(function, "allowed_permissions", None):
                missing.append(f"{model._meta.label}.{name}")
    assert not missing
