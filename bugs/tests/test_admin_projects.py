"""The projects' admin: list and search, create and edit under the repository rules with the refusal beside
its field, secrets never on a page, "Link commits now" only for its permission holders, and the project
filters of the bug and run lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from bugs.models import Project, Suite, WebhookDelivery
from bugs.services.bugs import bug_create
from bugs.services.commits import LinkSummary
from bugs.services.projects import project_create
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db

SECRET = "an-admin-set-webhook-secret-value"
TOKEN = "glpat-the-token-itself-never-shown"


@pytest.fixture
def roots(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "repos"
    (root / "tiny").mkdir(parents=True)
    settings.ATOM_REPOSITORY_ROOTS = [root]
    settings.ATOM_GIT_CREDENTIALS = {"deploy_token": TOKEN}
    return root


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-correct-horse"))
    return client


def _form(**fields: Any) -> dict[str, Any]:
    return {
        "slug": "tiny",
        "name": "Tiny",
        "repository": "",
        "default_branch": "main",
        "credential": "",
        "webhook_secret": "",
        "description": "",
        **fields,
    }


def test_the_list_search_and_pages_load(admin_client, roots):
    project_create(slug="tiny", name="Tiny", repository=str(roots / "tiny"), credential="deploy_token", webhook_secret=SECRET)
    listing = admin_client.get(reverse("admin:bugs_project_changelist") + "?q=tin")
    assert listing.status_code == 200
    assert b"tiny" in listing.content
    assert admin_client.get(reverse("admin:bugs_project_add")).status_code == 200
    change = admin_client.get(reverse("admin:bugs_project_change", args=[Project.objects.get(slug="tiny").pk]))
    assert change.status_code == 200
    for page in (listing, change):
        assert SECRET.encode() not in page.content
        assert TOKEN.encode() not in page.content
    assert b"deploy_token" in change.content
    assert admin_client.get(reverse("admin:bugs_webhookdelivery_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"repository": "ext::sh -c touch% /tmp/pwned"}, "repository", "transport is refused"),
        ({"repository": "/etc"}, "repository", "outside the allowed repository roots"),
        ({"repository": "https://user:pw@example.com/r.git"}, "repository", "Credentials never go in a repository URL"),
        ({"default_branch": "-delete"}, "default_branch", "cannot be empty, start with"),
        ({"webhook_secret": "short"}, "webhook_secret", "16 to 200"),
        ({"credential": "missing"}, "credential", "Select a valid choice"),
    ],
)
def test_a_refused_field_is_shown_beside_it_and_nothing_is_saved(admin_client, roots, fields, field, words):
    response = admin_client.post(reverse("admin:bugs_project_add"), _form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors.get(field, [])), errors
    assert not Project.objects.filter(slug="tiny").exists()


def test_a_project_is_created_and_its_secret_kept_replaced_or_cleared(admin_client, roots):
    response = admin_client.post(
        reverse("admin:bugs_project_add"),
        _form(repository=f"file://{roots / 'tiny'}", credential="deploy_token", webhook_secret=SECRET),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    project = Project.objects.get(slug="tiny")
    assert (project.repository, project.credential, project.webhook_secret) == (f"file://{roots / 'tiny'}", "deploy_token", SECRET)
    url = reverse("admin:bugs_project_change", args=[project.pk])
    assert admin_client.post(url, _form(name="Tiny renamed", credential="deploy_token")).status_code == 302
    project.refresh_from_db()
    assert (project.name, project.webhook_secret) == ("Tiny renamed", SECRET), "a blank secret field keeps the secret"
    assert admin_client.post(url, _form(webhook_secret="another-secret-of-the-tiny-project")).status_code == 302
    project.refresh_from_db()
    assert project.webhook_secret == "another-secret-of-the-tiny-project"
    assert admin_client.post(url, _form(clear_webhook_secret="on")).status_code == 302
    project.refresh_from_db()
    assert project.webhook_secret == ""
    assert project.slug == "tiny"


def test_link_commits_now_is_offered_to_and_run_by_its_holders_only(client, django_user_model, roots, monkeypatch):
    linked: list[str] = []

    def link(project: Project) -> LinkSummary:
        linked.append(project.slug)
        return LinkSummary(fixed=["BUG-001"])

    monkeypatch.setattr("bugs.admin_projects.project_commits_link", link)
    project = project_create(slug="tiny", name="Tiny", repository=str(roots / "tiny"))
    viewer = django_user_model.objects.create_user(username="viewer", password="pw-correct-horse", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_project"]))
    client.force_login(viewer)
    page = client.get(reverse("admin:bugs_project_changelist"))
    assert b'value="link_commits_now"' not in page.content
    client.post(reverse("admin:bugs_project_changelist"), {"action": "link_commits_now", "_selected_action": [project.pk]})
    assert linked == []
    viewer.user_permissions.add(Permission.objects.get(codename="link_project_commits"))
    client.force_login(django_user_model.objects.get(pk=viewer.pk))
    assert b'value="link_commits_now"' in client.get(reverse("admin:bugs_project_changelist")).content
    response = client.post(
        reverse("admin:bugs_project_changelist"), {"action": "link_commits_now", "_selected_action": [project.pk]}, follow=True
    )
    assert linked == ["tiny"]
    assert "iny: 1 bug(s) moved to fixed" in response.content.decode()  # the admin capitalises messages


def test_the_export_of_one_project_names_it(admin_client):
    project = project_create(slug="tiny", name="Tiny")
    bug_create(key="BUG-001", title="atom's", severity="P3")
    bug_create(key="BUG-002", title="tiny's", severity="P3", project=project)
    response = admin_client.post(
        reverse("admin:bugs_project_changelist"), {"action": "export_triage_report", "_selected_action": [project.pk]}
    )
    text = response.content.decode()
    assert "Filters: project = tiny" in text
    assert "BUG-002" in text
    assert "BUG-001" not in text
    assert "tiny" in response["Content-Disposition"]


def test_the_bug_and_run_lists_filter_by_project(admin_client):
    project = project_create(slug="tiny", name="Tiny")
    bug_create(key="BUG-001", title="atom-bug", severity="P3")
    bug_create(key="BUG-002", title="tiny-bug", severity="P3", project=project)
    bugs = admin_client.get(reverse("admin:bugs_bug_changelist") + f"?project__id__exact={project.pk}").content.decode()
    assert "tiny-bug" in bugs
    assert "atom-bug" not in bugs
    tiny_run = make_run(suite=Suite.objects.create(name="tiny", project=project), status="passed")
    atom_run = make_run(status="passed")
    runs = admin_client.get(reverse("admin:bugs_run_changelist") + f"?suite__project__id__exact={project.pk}")
    assert runs.status_code == 200
    shown = {run.pk for run in runs.context["cl"].result_list}
    assert tiny_run.pk in shown
    assert atom_run.pk not in shown


def test_a_bug_is_registered_in_the_chosen_project_and_stays_there(admin_client):
    project = project_create(slug="tiny", name="Tiny")
    form = {"key": "BUG-001", "project": project.pk, "title": "In tiny", "severity": "P3", "category": "quality", "status": "open"}
    form.update(
        {f"{prefix}-{k}": v for prefix in ("regression_tests", "status_changes") for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}
    )
    form["discovered_at_0"], form["discovered_at_1"] = "2026-11-29", "10:00:00"
    response = admin_client.post(reverse("admin:bugs_bug_add"), form)
    assert response.status_code == 302, (response.status_code, response.content[-3000:])
    from bugs.models import Bug

    bug = Bug.objects.get(key="BUG-001")
    assert bug.project == project
    from django.contrib import admin
    from django.test import RequestFactory

    bug_admin = admin.site._registry[Bug]
    request = RequestFactory().get("/")
    assert "project" in bug_admin.get_readonly_fields(request, bug), "the project is read-only once the bug exists"
    assert "project" not in bug_admin.get_readonly_fields(request, None)


def test_webhook_deliveries_are_read_only(admin_client):
    project = project_create(slug="tiny", name="Tiny")
    delivery = WebhookDelivery.objects.create(project=project, provider="github", delivery_id="d-1", outcome="ignored: ping")
    assert admin_client.get(reverse("admin:bugs_webhookdelivery_change", args=[delivery.pk])).status_code == 200
    assert admin_client.get(reverse("admin:bugs_webhookdelivery_add")).status_code == 403
