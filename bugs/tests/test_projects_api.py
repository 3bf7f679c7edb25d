"""The projects API: each act with its own permission, the repository rules at the edge, secrets never shown,
and bugs, runs and the triage report seen per project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from bugs.models import Bug, Project, Suite
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.commits import LinkSummary
from bugs.services.projects import project_create
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db

SECRET = "a-webhook-secret-of-32-characters"


@pytest.fixture
def roots(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "repos"
    (root / "tiny").mkdir(parents=True)
    settings.ATOM_REPOSITORY_ROOTS = [root]
    settings.ATOM_GIT_CREDENTIALS = {"deploy_token": "glpat-never-shown-anywhere"}
    return root


def _holder(django_user_model: Any, *codenames: str) -> Any:
    user = django_user_model.objects.create_user(username="holder-" + "-".join(codenames), password="correct horse battery staple")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="bugs", codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)


def _state() -> list[tuple[Any, ...]]:
    return list(
        Project.objects.order_by("slug").values_list("slug", "name", "repository", "default_branch", "credential", "webhook_secret")
    )


# --- acts and permissions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"),
    [
        ("get", "/api/v1/projects/", None, "view_project"),
        ("get", "/api/v1/projects/atom/", None, "view_project"),
        ("post", "/api/v1/projects/", {"slug": "tiny", "name": "Tiny"}, "add_project"),
        ("patch", "/api/v1/projects/atom/", {"description": "Atom itself"}, "change_project"),
        ("post", "/api/v1/projects/atom/link-commits/", {}, "link_project_commits"),
    ],
)
def test_each_project_act_needs_its_own_permission(django_user_model, client_for, roots, method, path, body, needed, monkeypatch):
    monkeypatch.setattr("bugs.api.project_views.project_commits_link", lambda project: LinkSummary())
    Project.objects.get_or_create(slug="atom", defaults={"name": "Atom"})
    others = [c for c in ("view_project", "add_project", "change_project", "link_project_commits") if c != needed]
    before = _state()
    refused = getattr(client_for(_holder(django_user_model, *others)), method)(path, body or {}, format="json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "PERMISSION_DENIED"
    assert _state() == before
    allowed = getattr(client_for(_holder(django_user_model, needed)), method)(path, body or {}, format="json")
    assert allowed.status_code in (200, 201), allowed.content


def test_a_project_is_created_read_listed_and_edited_by_slug(superuser, client_for, roots):
    client = client_for(superuser)
    created = client.post(
        "/api/v1/projects/",
        {
            "slug": "tiny",
            "name": "Tiny",
            "repository": f"file://{roots / 'tiny'}",
            "default_branch": "trunk",
            "credential": "DEPLOY_TOKEN",
            "webhook_secret": SECRET,
            "description": "A tiny package",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "tiny"
    assert body["repository"] == f"file://{roots / 'tiny'}"
    assert body["default_branch"] == "trunk"
    assert body["credential"] == "deploy_token"  # the NAME, as configured
    assert body["has_webhook_secret"] is True
    assert "webhook_secret" not in body
    assert client.get("/api/v1/projects/tiny/").json() == body
    assert "tiny" in [row["slug"] for row in client.get("/api/v1/projects/").json()["results"]]
    patched = client.patch("/api/v1/projects/tiny/", {"default_branch": "main", "webhook_secret": ""}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["default_branch"] == "main"
    assert patched.json()["has_webhook_secret"] is False
    assert client.get("/api/v1/projects/nope/").status_code == 404


def test_no_answer_or_error_ever_carries_a_secret(superuser, client_for, roots):
    client = client_for(superuser)
    client.post(
        "/api/v1/projects/", {"slug": "tiny", "name": "Tiny", "credential": "deploy_token", "webhook_secret": SECRET}, format="json"
    )
    texts = [
        client.get("/api/v1/projects/").content,
        client.get("/api/v1/projects/tiny/").content,
        client.patch("/api/v1/projects/tiny/", {"credential": "nope"}, format="json").content,
        client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content,
    ]
    for text in texts:
        assert SECRET.encode() not in text
        assert b"glpat-never-shown-anywhere" not in text


def test_a_second_project_with_the_same_slug_is_a_conflict(superuser, client_for, roots):
    client = client_for(superuser)
    assert client.post("/api/v1/projects/", {"slug": "tiny", "name": "Tiny"}, format="json").status_code == 201
    again = client.post("/api/v1/projects/", {"slug": "tiny", "name": "Other"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PROJECT_EXISTS"
    assert Project.objects.get(slug="tiny").name == "Tiny"


# --- bad input: 400 in the error shape, no row written ----------------------------------------------


BAD_CREATES = [
    ({"repository": "ext::sh -c touch% /tmp/pwned"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "fd::17"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "--upload-pack=touch /tmp/pwned"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "-uhelp"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "/etc"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "file:///etc/passwd"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "https://oauth2:glpat-abc@gitlab.example.com/group/repo.git"}, "repository", "REPOSITORY_REFUSED"),
    ({"repository": "http://github.com/org/repo.git"}, "repository", "REPOSITORY_REFUSED"),
    ({"default_branch": "-b"}, "default_branch", "REPOSITORY_REFUSED"),
    ({"default_branch": "--output=/tmp/x"}, "default_branch", "REPOSITORY_REFUSED"),
    ({"default_branch": "main..dev"}, "default_branch", "REPOSITORY_REFUSED"),
    ({"credential": "unknown_token"}, "credential", "CREDENTIAL_UNKNOWN"),
    ({"credential": "../../etc"}, "credential", "CREDENTIAL_UNKNOWN"),
    ({"webhook_secret": "short"}, "webhook_secret", "PROJECT_INVALID"),
    ({"name": "two\nlines"}, "name", "PROJECT_INVALID"),
]


@pytest.mark.parametrize(("fields", "field", "code"), BAD_CREATES, ids=[f"{f}:{next(iter(v.values()))[:20]}" for v, f, _ in BAD_CREATES])
def test_bad_project_input_is_refused_and_writes_nothing(superuser, client_for, roots, fields, field, code):
    client = client_for(superuser)
    before = _state()
    created = client.post("/api/v1/projects/", {"slug": "tiny", "name": "Tiny", **fields}, format="json")
    assert created.status_code == 400, created.content
    error = created.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert (error["code"], error["details"]) == (code, {"field": field})
    assert _state() == before
    project_create(slug="kept", name="Kept")
    before = _state()
    patched = client.patch("/api/v1/projects/kept/", fields, format="json")
    assert patched.status_code == 400, patched.content
    assert patched.json()["error"]["code"] == code
    assert _state() == before


@pytest.mark.parametrize("slug", ["", "Upper", "-dash", "a" * 65, "sp ace", "dot.ted", "ünï"])
def test_a_bad_slug_is_refused(superuser, client_for, slug):
    before = _state()
    response = client_for(superuser).post("/api/v1/projects/", {"slug": slug, "name": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert _state() == before


def test_an_error_of_the_refused_repository_never_runs_git(superuser, client_for, roots, tmp_path):
    """The refusal happens before any git command: the ext:: payload would have created this file."""
    marker = tmp_path / "pwned"
    client_for(superuser).post("/api/v1/projects/", {"slug": "x", "name": "x", "repository": f"ext::sh -c touch% {marker}"}, format="json")
    assert not marker.exists()


# --- bugs, runs and the report per project -------------------------------------------------------------


def test_a_bug_is_created_in_the_named_project_or_the_default_one(staff_user, client_for, settings):
    project_create(slug="tiny", name="Tiny")
    client = client_for(staff_user)
    named = client.post("/api/v1/bugs/", {"title": "In tiny", "severity": "P3", "project": "tiny"}, format="json")
    assert named.status_code == 201, named.content
    assert named.json()["project"] == "tiny"
    default = client.post("/api/v1/bugs/", {"title": "In atom", "severity": "P3"}, format="json")
    assert default.json()["project"] == settings.ATOM_DEFAULT_PROJECT
    assert Bug.objects.get(key=named.json()["key"]).project.slug == "tiny"


def test_a_bug_in_an_unknown_project_is_a_field_error_and_nothing_is_written(staff_user, client_for):
    response = client_for(staff_user).post("/api/v1/bugs/", {"title": "Lost", "severity": "P3", "project": "nowhere"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "project" in response.json()["error"]["details"]
    assert Bug.objects.count() == 0


def test_bug_and_run_lists_filter_by_project(staff_user, client_for):
    tiny = project_create(slug="tiny", name="Tiny")
    bug_create(key="BUG-001", title="atom's", severity="P3")
    bug_create(key="BUG-002", title="tiny's", severity="P3", project=tiny)
    tiny_suite = Suite.objects.create(name="tiny", project=tiny)
    make_run(suite=tiny_suite, status="passed")
    atom_run = make_run(status="passed")
    client = client_for(staff_user)
    assert [b["key"] for b in client.get("/api/v1/bugs/?project=tiny").json()["results"]] == ["BUG-002"]
    assert [b["key"] for b in client.get("/api/v1/bugs/?project=atom").json()["results"]] == ["BUG-001"]
    assert len(client.get("/api/v1/bugs/").json()["results"]) == 2
    assert client.get("/api/v1/bugs/?project=nowhere").json()["results"] == []
    runs = client.get("/api/v1/runs/?project=tiny").json()["results"]
    assert [(r["suite"], r["project"]) for r in runs] == [("tiny", "tiny")]
    assert [r["id"] for r in client.get("/api/v1/runs/?project=atom").json()["results"]] == [atom_run.pk]


def test_the_triage_report_of_one_project_names_it_and_holds_only_its_bugs(staff_user, client_for):
    tiny = project_create(slug="tiny", name="Tiny")
    bug_create(key="BUG-001", title="atom's defect", severity="P3")
    bug_create(key="BUG-002", title="tiny's defect", severity="P3", project=tiny)
    client = client_for(staff_user)
    text = client.get("/api/v1/triage-report/?project=tiny").content.decode()
    assert "Filters: project = tiny" in text
    assert "### BUG-002: tiny's defect" in text
    assert "BUG-001" not in text
    every = client.get("/api/v1/triage-report/").content.decode()
    assert "BUG-001" in every
    assert "BUG-002" in every
    assert "project =" not in every
    assert client.get("/api/v1/triage-report/?project=nowhere").status_code == 400
    data = client.get("/api/v1/triage-report/?project=tiny&format=json").json()
    assert data["filters"] == {"project": ["tiny"]}
    assert [b["key"] for b in data["bugs"]] == ["BUG-002"]


@pytest.mark.parametrize("count", [1, 30])
def test_the_project_and_run_lists_cost_the_same_queries_for_any_number_of_rows(staff_user, client_for, django_assert_num_queries, count):
    for index in range(count):
        project = project_create(slug=f"p{index}", name=f"Project {index}")
        make_run(suite=Suite.objects.create(name=f"s{index}", project=project), status="passed")
        bug_link_test(bug=bug_create(title=f"Defect {index}", severity="P3", project=project), node_id=f"tests/test_{index}.py::test_it")
    client = client_for(staff_user)
    # user load, its permissions and its groups' (one permission check), count, the page
    with django_assert_num_queries(5):
        assert client.get("/api/v1/projects/").status_code == 200
    with django_assert_num_queries(5):
        assert client.get("/api/v1/runs/?project=p0").status_code == 200
    with django_assert_num_queries(6):
        assert client.get("/api/v1/bugs/?project=p0").status_code == 200
