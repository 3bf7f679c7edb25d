"""A run's failures grouped by exception type and message; a group becomes a bug or joins one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from bugs import history
from bugs.models import Bug, BugResult, RegressionTest, Run
from bugs.parsers import ParsedResult
from bugs.services.bugs import bug_create
from bugs.services.results import results_store
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db

SHA = "c0ffee" + "0" * 34


def _failing_run() -> Run:
    run = make_run(commit_sha=SHA, branch="main", status="failed")
    results_store(
        run=run,
        parsed=[
            ParsedResult(node_id="tests/test_a.py::test_login", outcome="failed", message="AssertionError: assert 401 == 200"),
            ParsedResult(node_id="tests/test_b.py::test_refresh", outcome="failed", message="AssertionError: assert 401 == 200"),
            ParsedResult(
                node_id="tests/test_c.py::test_export",
                outcome="error",
                message="boom",
                traceback="def test():\n>       export()\nE       KeyError: 'owner'",
            ),
            ParsedResult(node_id="tests/test_d.py::test_ok", outcome="passed"),
        ],
    )
    return run


@pytest.mark.parametrize(
    ("message", "traceback", "expected"),
    [
        ("AssertionError: assert 1 == 2", "", ("AssertionError", "assert 1 == 2")),
        ("django.db.utils.IntegrityError: UNIQUE constraint failed", "", ("django.db.utils.IntegrityError", "UNIQUE constraint failed")),
        ("assert 1 == 2", "E   AssertionError: assert 1 == 2", ("AssertionError", "assert 1 == 2")),
        ("timeout", "", ("", "timeout")),
        ("", "", ("", "")),
    ],
)
def test_a_failure_signature_is_its_exception_type_and_first_line(message, traceback, expected):
    assert history.failure_signature(message=message, traceback=traceback) == expected


def test_failures_with_the_same_exception_and_message_are_one_group_in_two_queries(django_assert_num_queries):
    run = _failing_run()
    with django_assert_num_queries(2):
        groups = history.run_failure_groups(run_id=run.pk)
    assert [(g.exception, g.message, len(g.results)) for g in groups] == [
        ("AssertionError", "assert 401 == 200", 2),
        ("KeyError", "boom", 1),
    ]


def test_the_run_page_offers_create_and_link_for_each_group(admin_client):
    run = _failing_run()
    page = admin_client.get(f"/admin/bugs/run/{run.pk}/change/").content.decode()
    assert page.count('class="button create-bug"') == 2
    assert page.count('class="button link-bug"') == 2


def test_create_bug_is_prefilled_from_the_group(admin_client):
    run = _failing_run()
    group = history.run_failure_groups(run_id=run.pk)[0]
    page = admin_client.get(f"/admin/bugs/run/{run.pk}/failures/create/?results={group.result_ids}").content.decode()
    assert "test_login: AssertionError: assert 401 == 200" in page
    assert f"run #{run.pk} at commit {SHA} on main" in page
    assert "tests/test_b.py::test_refresh" in page


def test_a_group_becomes_one_bug_with_its_tests_linked_and_results_attached(admin_client):
    run = _failing_run()
    group = history.run_failure_groups(run_id=run.pk)[0]
    response = admin_client.post(
        f"/admin/bugs/run/{run.pk}/failures/create/",
        {
            "results": group.result_ids,
            "title": "Login answers 401",
            "severity": "P1",
            "category": "security",
            "description": "d",
            "actual": "a",
        },
    )
    bug = Bug.objects.get(title="Login answers 401")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/bugs/bug/{bug.pk}/change/"
    assert sorted(RegressionTest.objects.filter(bug=bug).values_list("node_id", flat=True)) == [
        "tests/test_a.py::test_login",
        "tests/test_b.py::test_refresh",
    ]
    assert BugResult.objects.filter(bug=bug).count() == 2
    assert (bug.severity, bug.status) == ("P1", "open")
    assert bug.reporter is not None
    assert bug.reporter.username == "admin"


def test_a_group_links_to_an_existing_bug_once(admin_client):
    run = _failing_run()
    bug = bug_create(title="Tokens refused", severity="P2")
    group = history.run_failure_groups(run_id=run.pk)[0]
    for _ in range(2):
        response = admin_client.post(f"/admin/bugs/run/{run.pk}/failures/link/", {"results": group.result_ids, "bug": bug.key})
        assert response.status_code == 302
    assert BugResult.objects.filter(bug=bug).count() == 2
    assert RegressionTest.objects.filter(bug=bug).count() == 2
    assert history.run_failure_groups(run_id=run.pk)[0].bugs == [bug.key]


def test_results_of_another_run_or_passing_ones_are_not_taken(admin_client):
    run, other = _failing_run(), _failing_run()
    passing = run.results.get(outcome="passed")
    failing_elsewhere = other.results.filter(outcome="failed")[0]
    for result in (passing, failing_elsewhere):
        assert admin_client.get(f"/admin/bugs/run/{run.pk}/failures/create/?results={result.pk}").status_code == 404


def test_triage_needs_its_own_permission_staff_and_change_rights_are_not_enough(client, django_user_model):
    # Not this folder's staff_user fixture, which holds every permission of the bugs app.
    staff_user = django_user_model.objects.create_user(username="viewer", password="correct horse battery staple", is_staff=True)
    run = _failing_run()
    staff_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_run", "change_run", "add_bug", "change_bug"]))
    client.force_login(staff_user)
    group = history.run_failure_groups(run_id=run.pk)[0]
    page = client.get(f"/admin/bugs/run/{run.pk}/change/").content.decode()
    assert "create-bug" not in page
    assert client.get(f"/admin/bugs/run/{run.pk}/failures/create/?results={group.result_ids}").status_code == 403
    bug = bug_create(title="Tokens refused", severity="P2")
    assert client.post(f"/admin/bugs/run/{run.pk}/failures/link/", {"results": group.result_ids, "bug": bug.key}).status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="triage_result"))
    assert client.get(f"/admin/bugs/run/{run.pk}/failures/create/?results={group.result_ids}").status_code == 200
