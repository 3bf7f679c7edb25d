"""The operators' console: bug filters and actions, runs with live progress, severity policy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bugs.models import Bug, Run, SeverityPolicy
from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="pw-correct-horse")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "query",
    ["", "?severity__exact=P0", "?status__exact=open", "?category__exact=security", "?sla_breached=yes", "?regression_test=missing",
     "?regression_test=regressed", "?flaky=yes", "?q=BUG-001"],
)  # fmt: skip
def test_the_bug_list_and_its_filters_load(admin_client, query):
    bug_link_test(bug=bug_create(key="BUG-001", title="x", severity="P0", category="security"), node_id="tests/test_a.py::test_a")
    response = admin_client.get(reverse("admin:bugs_bug_changelist") + query)
    assert response.status_code == 200


def test_run_regression_tests_action_queues_a_run(admin_client, monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    bug = bug_create(key="BUG-001", title="x", severity="P0")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    response = admin_client.post(
        reverse("admin:bugs_bug_changelist"), {"action": "run_regression_tests", "_selected_action": [bug.pk]}, follow=True
    )
    assert response.status_code == 200
    run = Run.objects.get()
    assert (run.trigger, run.node_ids) == ("admin", ["tests/test_a.py::test_a"])
    assert f"Run #{run.pk}" in response.content.decode() or "queued" in response.content.decode()


def test_export_action_downloads_the_markdown_report(admin_client):
    bug = bug_create(key="BUG-001", title="x", severity="P0")
    response = admin_client.post(reverse("admin:bugs_bug_changelist"), {"action": "export_triage_report", "_selected_action": [bug.pk]})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="bug_triage_report_')
    assert b"### BUG-001: x" in response.content


def test_mark_duplicate_action(admin_client):
    original = bug_create(key="BUG-001", title="x", severity="P2")
    copy = bug_create(key="BUG-002", title="x again", severity="P2")
    admin_client.post(
        reverse("admin:bugs_bug_changelist"),
        {"action": "mark_duplicate", "_selected_action": [copy.pk, original.pk], "duplicate_of": "BUG-001"},
    )
    copy.refresh_from_db()
    assert (copy.status, copy.duplicate_of_id) == ("duplicate", original.pk)
    assert Bug.objects.get(pk=original.pk).status == "open"


def test_the_change_form_refuses_a_status_the_rules_refuse(admin_client):
    bug = bug_create(key="BUG-001", title="x", severity="P0")
    url = reverse("admin:bugs_bug_change", args=[bug.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    data = {
        "key": "BUG-001", "title": "x", "severity": "P0", "category": "quality", "status": "fixed", "fix_commit": "abc1234",
        "discovered_at_0": "2026-11-24", "discovered_at_1": "00:00:00",
        "regression_tests-TOTAL_FORMS": "0", "regression_tests-INITIAL_FORMS": "0",
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "without a linked regression test" in response.content.decode()
    assert Bug.objects.get().status == "open"


def test_the_run_page_has_a_live_progress_bar_and_its_json(admin_client):
    run = make_run(status="running", total=10, done=4)
    page = admin_client.get(reverse("admin:bugs_run_change", args=[run.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "bugs/run_progress.js" in content
    assert "data-run-progress" in content
    assert "<progress" in content
    progress = admin_client.get(reverse("admin:bugs_run_progress", args=[run.pk])).json()
    assert (progress["done"], progress["total"], progress["status"], progress["finished"]) == (4, 10, "running", False)
    assert admin_client.get(reverse("admin:bugs_run_changelist")).status_code == 200


def test_the_progress_script_is_served_from_the_app(client):
    from django.contrib.staticfiles import finders

    assert finders.find("bugs/run_progress.js")


def test_the_progress_json_needs_an_admin_login(client):
    run = make_run()
    response = client.get(reverse("admin:bugs_run_progress", args=[run.pk]))
    assert response.status_code == 302


def test_editing_the_severity_policy_moves_open_bugs_sla(admin_client):
    bug = bug_create(key="BUG-001", title="x", severity="P1")
    policy = SeverityPolicy.objects.get(severity="P1")
    response = admin_client.post(
        reverse("admin:bugs_severitypolicy_change", args=[policy.pk]), {"severity": "P1", "sla_hours": "48", "description": "High"}
    )
    assert response.status_code == 302
    bug.refresh_from_db()
    assert (bug.sla_due_at - bug.discovered_at).total_seconds() == 48 * 3600


def test_the_suite_admin_loads(admin_client):
    assert admin_client.get(reverse("admin:bugs_suite_changelist")).status_code == 200


def _change_form_data(bug: Bug, **changes: str) -> dict[str, str]:
    data = {
        "key": bug.key, "title": bug.title, "severity": bug.severity, "category": bug.category, "status": bug.status,
        "fix_commit": bug.fix_commit,
        "discovered_at_0": f"{bug.discovered_at:%Y-%m-%d}", "discovered_at_1": f"{bug.discovered_at:%H:%M:%S}",
        "regression_tests-TOTAL_FORMS": "0", "regression_tests-INITIAL_FORMS": "0",
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0",
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.regression("BUG-033")
def test_p2_crash_admin_fix_commit_not_a_hash_regression(admin_client):
    """BUG-033 (P2, crash): the admin bug change form answered 500 when the fix commit was not a hash.

    The form never checked the commit's format, so save_model's bug_transition raised DomainError
    INVALID_COMMIT, which nothing caught. Fix: the form refuses a fix commit that is not a commit hash
    as a field error, and a DomainError raised by the services while saving becomes an error message
    instead of a 500 (commit recorded in the catalog).
    """
    bug = bug_create(key="BUG-001", title="x", severity="P3")
    url = reverse("admin:bugs_bug_change", args=[bug.pk])
    response = admin_client.post(url, _change_form_data(bug, title="renamed", status="fixed", fix_commit="v1.2.3"))
    assert response.status_code == 200
    assert "fix_commit" in response.context["adminform"].form.errors
    assert "commit hash" in response.content.decode()
    bug.refresh_from_db()
    assert (bug.title, bug.status, bug.fix_commit) == ("x", "open", "")
    assert bug.status_changes.count() == 1


@pytest.mark.regression("BUG-033")
def test_p2_crash_admin_save_domain_error_regression(admin_client, monkeypatch):
    """BUG-033 (P2, crash): a DomainError raised by the services while the admin saved a bug was a 500.

    Fix: the admin shows the service's refusal as an error message and saves nothing (commit recorded
    in the catalog).
    """
    from atom.errors import DomainError

    def refuse(**kwargs: object) -> None:
        raise DomainError("Refused by the rules.", code="REFUSED")

    monkeypatch.setattr("bugs.services.bugs.bug_transition", refuse)
    bug = bug_create(key="BUG-001", title="x", severity="P3")
    url = reverse("admin:bugs_bug_change", args=[bug.pk])
    response = admin_client.post(url, _change_form_data(bug, title="renamed"), follow=True)
    assert response.status_code == 200
    assert "Refused by the rules." in response.content.decode()
    assert Bug.objects.get().title == "x"


@pytest.mark.regression("BUG-046")
def test_p3_crash_huge_sla_hours_regression(admin_client, staff_user, client_for):
    """BUG-046 (P3, crash): a huge SLA in the severity policy made every bug creation of that severity a 500.

    ``sla_hours=2147483647`` was accepted (admin and service), and the due time it gave overflowed
    (OverflowError) whenever a bug of that severity was created. Fix: an SLA is bounded (at most ten
    years of hours) in the model, the service and so the admin, and a stored policy beyond the bound
    counts as the bound (commit recorded in the catalog).
    """
    from atom.errors import DomainError
    from bugs.services.bugs import severity_policy_update

    policy = SeverityPolicy.objects.get(severity="P1")
    response = admin_client.post(
        reverse("admin:bugs_severitypolicy_change", args=[policy.pk]), {"severity": "P1", "sla_hours": "2147483647", "description": "High"}
    )
    assert response.status_code == 200
    assert "sla_hours" in response.context["adminform"].form.errors
    assert SeverityPolicy.objects.get(severity="P1").sla_hours == policy.sla_hours
    with pytest.raises(DomainError):
        severity_policy_update(severity="P1", sla_hours=2147483647)

    # A policy row written before the bound existed no longer breaks bug creation.
    SeverityPolicy.objects.filter(severity="P1").update(sla_hours=2147483647)
    response = client_for(staff_user).post("/api/v1/bugs/", {"title": "x", "severity": "P1"}, format="json")
    assert response.status_code == 201, response.content
