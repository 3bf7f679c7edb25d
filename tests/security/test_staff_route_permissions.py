"""Every staff route of the API, walked from the URLconf, by role: superuser; staff with exactly the needed
permission; staff with every view permission only; staff with none. Only those holding the route's permission
pass; a refusal is a 403 and changes nothing. Being staff grants nothing by itself.

A route is either a staff route (listed here with the permission each method needs) or confined to what
the caller owns (listed in OWNER_SCOPED); the walk fails on a route that is neither.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver

from atom.testing import api_client_for
from bugs.models import Bug, Comment, Project, Run
from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.factories import make_run
from governance.models import Maturity, Proposal
from governance.services.proposals import proposal_create
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db

# name -> {method: permission}
STAFF_ROUTES: dict[str, dict[str, str]] = {
    "audit-list": {"get": "governance.view_auditentry"},
    "bug-list": {"get": "bugs.view_bug", "post": "bugs.add_bug"},
    "bug-detail": {"get": "bugs.view_bug", "patch": "bugs.change_bug"},
    "bug-results": {"get": "bugs.view_bug"},
    "bug-comments": {"get": "bugs.view_bug", "post": "bugs.add_comment"},
    "run-list": {"get": "bugs.view_run", "post": "bugs.run_regressions"},
    "run-import": {"post": "bugs.add_run"},
    "run-detail": {"get": "bugs.view_run"},
    "run-upload": {"get": "bugs.view_run"},
    "triage-report": {"get": "bugs.export_triage_report"},
    "project-list": {"get": "bugs.view_project", "post": "bugs.add_project"},
    "project-detail": {"get": "bugs.view_project", "patch": "bugs.change_project"},
    "project-link-commits": {"post": "bugs.link_project_commits"},
    "bug-prove": {"post": "bugs.prove_regressions"},
    "suite-list": {"get": "bugs.view_suite", "post": "bugs.add_suite"},
    "suite-detail": {"get": "bugs.view_suite", "patch": "bugs.change_suite"},
}
OWNER_SCOPED = {
    "token-obtain", "token-refresh", "logout", "logout-all", "schema", "docs", "api-not-found",
    "agent-list", "agent-detail", "agent-actions", "agent-feedback", "agent-token", "agent-interactions", "agent-episodes",
    "episode-detail", "proposal-list", "proposal-detail", "proposal-approve", "proposal-reject",
    "canvas-list", "canvas-detail", "canvas-execute",
}  # fmt: skip
# Authenticated by the project's webhook secret, the way the provider signs (bugs/tests/test_webhooks.py).
SIGNED = {"project-webhook"}
PATHS = {
    "audit-list": "/api/v1/audit/",
    "bug-list": "/api/v1/bugs/",
    "bug-detail": "/api/v1/bugs/BUG-001/",
    "bug-results": "/api/v1/bugs/BUG-001/results/",
    "bug-comments": "/api/v1/bugs/BUG-001/comments/",
    "run-list": "/api/v1/runs/",
    "run-import": "/api/v1/runs/import/",
    "run-detail": "/api/v1/runs/{run}/",
    "run-upload": "/api/v1/runs/{run}/upload/",
    "triage-report": "/api/v1/triage-report/",
    "project-list": "/api/v1/projects/",
    "project-detail": "/api/v1/projects/atom/",
    "project-link-commits": "/api/v1/projects/atom/link-commits/",
    "bug-prove": "/api/v1/bugs/BUG-001/prove/",
    "suite-list": "/api/v1/suites/",
    "suite-detail": "/api/v1/suites/{suite}/",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("bug-list", "post"): {"key": "BUG-002", "title": "new", "severity": "P3"},
    ("bug-detail", "patch"): {"title": "renamed"},
    ("run-list", "post"): {"bugs": ["BUG-001"]},
    ("bug-comments", "post"): {"body": "Seen again on main, @root"},
    ("project-list", "post"): {"slug": "new", "name": "New"},
    ("project-detail", "patch"): {"description": "changed"},
    ("suite-list", "post"): {"name": "another-suite"},
    ("suite-detail", "patch"): {"description": "renamed"},
}
ROLES = ("superuser", "exact", "view-only", "none")
CASES = [(name, method) for name, methods in STAFF_ROUTES.items() for method in methods]


def _api_route_names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            names |= _api_route_names(entry.url_patterns, prefix + str(entry.pattern))
        elif prefix.startswith("api/v1/") and entry.name:
            names.add(entry.name)
    return names


def test_every_api_route_is_either_a_staff_route_or_owner_scoped():
    names = _api_route_names(get_resolver().url_patterns)
    assert names == set(STAFF_ROUTES) | OWNER_SCOPED | SIGNED, sorted(names ^ (set(STAFF_ROUTES) | OWNER_SCOPED | SIGNED))


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def actor_for(role: str, needed: str) -> Any:
    users = get_user_model().objects
    if role == "superuser":
        return users.create_superuser("root", password="correct horse battery staple")
    user = users.create_user("staff", password="correct horse battery staple", is_staff=True)
    if role == "exact":
        user.user_permissions.set([_permission(needed)])
    elif role == "view-only":
        user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


def state() -> tuple[int, int, list[str], int, list[tuple[str, str, Any]]]:
    projects = list(Project.objects.order_by("slug").values_list("slug", "description", "commits_linked_at"))
    return Bug.objects.count(), Run.objects.count(), list(Bug.objects.values_list("title", flat=True)), Comment.objects.count(), projects


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)


@pytest.mark.regression("BUG-092")
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method"), CASES)
def test_p1_security_staff_routes_ignore_permissions_regression(name, method, role):
    """BUG-092 (P1, security): through the API, staff without any permission read ``audit/``, created bugs
    and queued runs: the permission class let every staff user through, whatever they held."""
    bug = bug_create(key="BUG-001", title="x", severity="P3")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    run = make_run(status="passed")
    needed = STAFF_ROUTES[name][method]
    client = api_client_for(actor_for(role, needed))
    before = state()
    path = PATHS[name].format(run=run.pk, suite=run.suite.name)
    response = getattr(client, method)(path, BODIES.get((name, method), {}), format="json")
    may = role in ("superuser", "exact") or (role == "view-only" and needed.split(".")[1].startswith("view_"))
    if may:
        assert response.status_code != 403, (path, method, role, response.content[:300])
    else:
        assert response.status_code == 403, (path, method, role, response.status_code)
        assert state() == before


@pytest.mark.regression("BUG-092")
def test_p1_security_staff_lists_other_owners_proposals_regression(staff_user):
    """BUG-092: staff without the approve permission listed every owner's proposals; only the caller's are
    listed, or everyone's for a holder of ``governance.approve_proposal``."""
    agent = make_agent(maturity=Maturity.INTERN)
    proposal_create(agent=agent, actor=agent.owner, action="create", complexity=3, params={}, cost=Decimal("0"))
    assert api_client_for(staff_user).get("/api/v1/proposals/").json()["results"] == []
    staff_user.user_permissions.add(_permission("governance.approve_proposal"))
    staff = get_user_model().objects.get(pk=staff_user.pk)
    listed = api_client_for(staff).get("/api/v1/proposals/").json()["results"]
    assert [row["id"] for row in listed] == list(Proposal.objects.values_list("pk", flat=True))
