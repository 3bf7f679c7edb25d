"""The bug's read page: its header, timeline, result strips and failure messages, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bugs import history
from bugs.models import Bug
from bugs.tests.history_data import bug_with_history

pytestmark = pytest.mark.django_db


def _page(bug: Bug) -> history.BugPage:
    page = history.bug_page(pk=bug.pk)
    assert page is not None
    return page


def test_it_reads_a_bug_page_in_five_queries_whatever_the_history(django_assert_num_queries):
    for runs in (3, 120):
        bug = bug_with_history(runs=runs)
        with django_assert_num_queries(5):
            page = _page(bug)
        assert [len(test.results) for test in page.tests] == [min(runs, history.STRIP_LENGTH)] * 2


def test_the_strip_holds_the_latest_results_oldest_first_each_linked_to_its_run():
    bug = bug_with_history(runs=40)
    page = _page(bug)
    strip = page.tests[0].strip
    run_ids = [row["run_id"] for row in strip]
    assert run_ids == sorted(run_ids)
    assert len(run_ids) == 30
    assert {row["kind"] for row in strip} <= {"passed", "failed", "skipped", "flaky", "error"}


def test_the_timeline_merges_status_changes_runs_and_the_fix_commit_newest_first():
    bug = bug_with_history(runs=5)
    bug.fix_commit = "ab" * 20
    bug.save(update_fields=["fix_commit"])
    page = _page(bug)
    kinds = {entry.kind for entry in page.timeline}
    assert kinds == {"status", "run", "commit"}
    times = [entry.at for entry in page.timeline if entry.at is not None]
    assert times == sorted(times, reverse=True)
    assert len([entry for entry in page.timeline if entry.kind == "run"]) == 5


def test_failure_messages_are_distinct_and_newest_first():
    bug = bug_with_history(runs=12)
    failures = _page(bug).failures
    assert failures
    assert all(row["outcome"] in ("failed", "error") for row in failures)
    assert len({(row["node_id"], row["message"]) for row in failures}) == len(failures)


def _page_queries(client, bug) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/admin/bugs/bug/{bug.pk}/change/")
    assert response.status_code == 200
    return len(queries)


def test_the_admin_page_costs_the_same_queries_for_a_short_and_a_long_history(admin_client):
    short = _page_queries(admin_client, bug_with_history(runs=2))
    long = _page_queries(admin_client, bug_with_history(runs=300))
    assert short == long == 8  # with the list of operators a bug can be given to, and the comments


def test_opening_a_bug_shows_the_read_page_and_editing_sits_behind_a_button(admin_client):
    bug = bug_with_history(runs=3)
    page = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert 'id="bug-read"' in page
    assert 'href="?edit=1"' in page
    assert '<pre class="failure-message">AssertionError: assert 401 == 200' in page
    # The tests, failures and timeline: text, no form field (the comment form follows them).
    readable = page.split('id="bug-tests"', 1)[1].split('id="bug-comment"', 1)[0]
    assert "<input" not in readable
    assert "<textarea" not in readable
    form = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/?edit=1").content.decode()
    assert 'id="bug_form"' in form


def test_the_read_page_needs_the_view_permission(client, django_user_model):
    # Not this folder's staff_user fixture, which holds every permission of the bugs app.
    staff_user = django_user_model.objects.create_user(username="viewer", password="correct horse battery staple", is_staff=True)
    bug = bug_with_history(runs=1)
    client.force_login(staff_user)
    assert client.get(f"/admin/bugs/bug/{bug.pk}/change/").status_code == 403


def test_save_and_continue_editing_stays_on_the_form(admin_client):
    bug = bug_with_history(runs=1)
    form = {
        "key": bug.key, "title": "Guard lets everything through", "severity": "P1", "category": "quality", "status": "open",
        "discovered_at_0": bug.discovered_at.strftime("%Y-%m-%d"), "discovered_at_1": bug.discovered_at.strftime("%H:%M:%S"),
        "regression_tests-TOTAL_FORMS": "0", "regression_tests-INITIAL_FORMS": "0",
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0", "_continue": "1",
    }  # fmt: skip
    response = admin_client.post(f"/admin/bugs/bug/{bug.pk}/change/?edit=1", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].endswith("edit=1")
    bug.refresh_from_db()
    assert bug.title == "Guard lets everything through"
