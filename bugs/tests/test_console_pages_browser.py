"""The operator's bug flows in a real headless browser, each kept as a screenshot: read a bug, turn a
group of failures into a bug and link another, quarantine a flaky test and find it in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bugs import history
from bugs.models import Bug, BugResult, RegressionTest
from bugs.parsers import ParsedResult
from bugs.services.bugs import bug_create
from bugs.services.results import results_store
from bugs.tests.factories import make_run
from bugs.tests.history_data import bug_with_history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_reads_a_bug(browser_page, admin_login, artifact_path):
    bug = bug_with_history(runs=40)
    Bug.objects.filter(pk=bug.pk).update(description="Tokens of a deactivated user kept working.")
    admin_login(browser_page)
    browser_page.goto("/admin/bugs/bug/")
    browser_page.click(f"#result_list a:has-text('{bug.key}')")
    browser_page.wait_for_selector("#bug-read")
    assert browser_page.locator("#bug-key").inner_text() == bug.key
    assert browser_page.locator("#bug-severity").inner_text() == "P1"
    countdown = browser_page.locator("#bug-sla [data-sla-due]")
    browser_page.wait_for_function("() => /left|ago/.test(document.querySelector('[data-sla-due]').textContent)")
    assert "left" in countdown.inner_text()
    assert browser_page.locator("#bug-tests .strip").count() == 2
    assert browser_page.locator("#bug-tests .strip").first.locator("a.strip-cell").count() == 30
    assert browser_page.locator("#bug-failures pre.failure-message").count() >= 1
    assert browser_page.locator("#bug-timeline .timeline-run").count() >= 30
    browser_page.screenshot(path=artifact_path("bug-read.png"), full_page=True)
    browser_page.screenshot(path=artifact_path("bug-read-header.png"))  # the first screen, as the operator sees it
    browser_page.locator("#bug-tests a.strip-cell").last.click()
    browser_page.wait_for_url("**/admin/bugs/run/*/change/")
    browser_page.go_back()
    browser_page.click("#bug-edit")
    browser_page.wait_for_selector("#bug_form")
    assert browser_page.locator("#id_title").input_value() == bug.title


def test_an_operator_creates_a_bug_from_a_failing_result_and_links_a_group(browser_page, admin_login, artifact_path):
    run = make_run(commit_sha="c0ffee" + "0" * 34, branch="main", status="failed")
    results_store(
        run=run,
        parsed=[
            ParsedResult(node_id="tests/test_auth.py::test_login", outcome="failed", message="AssertionError: assert 401 == 200"),
            ParsedResult(node_id="tests/test_auth.py::test_refresh", outcome="failed", message="AssertionError: assert 401 == 200"),
            ParsedResult(node_id="tests/test_export.py::test_csv", outcome="error", message="KeyError: 'owner'"),
            ParsedResult(node_id="tests/test_export.py::test_json", outcome="passed"),
        ],
    )
    existing = bug_create(key="BUG-950", title="Exports lose the owner", severity="P2")
    admin_login(browser_page)
    browser_page.goto(f"/admin/bugs/run/{run.pk}/change/")
    groups = browser_page.locator("#failure-triage .failure-group")
    assert groups.count() == 2
    browser_page.screenshot(path=artifact_path("run-failures.png"), full_page=True)

    groups.nth(0).locator("button.create-bug").click()
    browser_page.wait_for_selector("#failure-create")
    assert browser_page.locator("#id_title").input_value() == "test_login: AssertionError: assert 401 == 200"
    assert run.commit_sha in browser_page.locator("#id_description").input_value()
    browser_page.select_option("#id_severity", "P1")
    browser_page.screenshot(path=artifact_path("create-bug-prefilled.png"), full_page=True)
    browser_page.click("input[name=_create]")
    browser_page.wait_for_selector("#bug-read")
    created = Bug.objects.get(title="test_login: AssertionError: assert 401 == 200")
    assert sorted(RegressionTest.objects.filter(bug=created).values_list("node_id", flat=True)) == [
        "tests/test_auth.py::test_login",
        "tests/test_auth.py::test_refresh",
    ]
    assert browser_page.locator("#bug-tests .strip").count() == 2
    browser_page.screenshot(path=artifact_path("bug-created-from-failures.png"), full_page=True)

    browser_page.goto(f"/admin/bugs/run/{run.pk}/change/")
    group = browser_page.locator("#failure-triage .failure-group", has_text="KeyError")
    group.locator("input[name=bug]").fill(existing.key)
    group.locator("button.link-bug").click()
    assert f"linked to {existing.key}" in browser_page.locator(".messagelist").inner_text()
    assert BugResult.objects.filter(bug=existing).count() == 1
    assert existing.key in browser_page.locator("#failure-triage .failure-group", has_text="KeyError").inner_text()
    browser_page.screenshot(path=artifact_path("group-linked.png"), full_page=True)


def test_an_operator_quarantines_a_flaky_test_and_sees_the_report_list_it(browser_page, admin_login, artifact_path):
    bug = bug_with_history(runs=40)
    node_id = "tests/test_guard.py::test_case_0"
    admin_login(browser_page)
    browser_page.goto("/admin/")
    browser_page.click("a:has-text('Flaky tests')")
    browser_page.wait_for_url("**/admin/bugs/flakytest/")
    row = browser_page.locator(f"#flaky-tests tr[data-node-id='{node_id}']")
    assert "%" in row.locator(".flake-rate").inner_text()
    browser_page.screenshot(path=artifact_path("flaky-tests.png"), full_page=True)
    row.locator("button.quarantine-switch").click()
    assert "Quarantined" in browser_page.locator(".messagelist").inner_text()
    assert RegressionTest.objects.get(node_id=node_id).quarantined
    browser_page.screenshot(path=artifact_path("flaky-quarantined.png"), full_page=True)

    browser_page.goto("/admin/bugs/bug/")
    browser_page.check(f"input[name=_selected_action][value='{bug.pk}']")
    browser_page.select_option("select[name=action]", "export_triage_report")
    with browser_page.expect_download() as download_info:
        browser_page.click("button[name=index]")
    target = artifact_path("triage-report-quarantine.md")
    download_info.value.save_as(target)
    section = Path(target).read_text().split("## Quarantined tests", 1)[1].split("\n## ", 1)[0]
    assert f"`{node_id}` ({bug.key})" in section
    assert history.flake_rates()  # the page's data is still there after the switch


def test_an_operator_assigns_a_bug_to_themself_and_finds_it_by_search(browser_page, admin_login, artifact_path):
    bug = bug_with_history(runs=3)
    other = bug_create(title="Slow audit page", severity="P3")
    operator = admin_login(browser_page)
    browser_page.goto(f"/admin/bugs/bug/{bug.pk}/change/")
    browser_page.select_option("#bug-assign select[name=assignee]", label=operator.username)
    browser_page.click("#bug-assign button")
    assert f"assigned to {operator.username}" in browser_page.locator(".messagelist").inner_text()
    assert browser_page.locator("#bug-assignee").inner_text() == f"Assignee: {operator.username}"
    browser_page.goto("/admin/bugs/bug/")
    browser_page.click("#changelist-filter a:has-text('Assigned to me')")
    browser_page.wait_for_url("**/admin/bugs/bug/?assigned=me")
    browser_page.wait_for_load_state()
    assert browser_page.locator("#result_list tbody tr").count() == 1
    assert bug.key in browser_page.locator("#result_list").inner_text()
    browser_page.screenshot(path=artifact_path("assigned-to-me.png"), full_page=True)
    browser_page.goto("/admin/bugs/bug/")
    browser_page.fill("#searchbar", "test_case_1")
    browser_page.press("#searchbar", "Enter")
    browser_page.wait_for_url("**/admin/bugs/bug/?q=test_case_1")
    listed = browser_page.locator("#result_list").inner_text()
    assert bug.key in listed
    assert other.key not in listed
    browser_page.screenshot(path=artifact_path("search-node-id.png"), full_page=True)


FITS = """() => {
    const table = document.querySelector("#result_list");
    const box = document.querySelector("#changelist .results");
    return {
        sidebar: document.querySelector("#nav-sidebar").getBoundingClientRect().width,
        right: table.getBoundingClientRect().right,
        viewport: window.innerWidth,
        page: document.documentElement.scrollWidth,
        boxScroll: box.scrollWidth,
        boxWidth: box.clientWidth,
    };
}"""


@pytest.mark.regression("BUG-105")
def test_p3_quality_bug_list_cut_off_at_1280_px_with_the_sidebar_open_regression(browser_page, admin_login, artifact_path):
    for index in range(3):
        bug = bug_with_history(runs=2)
        Bug.objects.filter(pk=bug.pk).update(
            key=f"BUG-{960 + index}",
            title="A refresh token spent twice by concurrent refreshes forks the session of its owner",
            is_regression=True,
        )
        link = RegressionTest.objects.filter(bug=bug).order_by("node_id").first()
        assert link is not None
        RegressionTest.objects.filter(pk=link.pk).update(is_flaky=True)
        for test in RegressionTest.objects.filter(bug=bug):  # each shows its latest result
            RegressionTest.objects.filter(pk=test.pk).update(last_result=test.bug.results.filter(node_id=test.node_id).last())
    browser_page.set_viewport_size({"width": 1280, "height": 900})
    admin_login(browser_page)
    browser_page.goto("/admin/bugs/bug/")
    sizes = browser_page.evaluate(FITS)
    browser_page.screenshot(path=artifact_path("bug-list-1280.png"), full_page=True)
    assert sizes["sidebar"] > 0  # the sidebar is open
    assert sizes["page"] <= sizes["viewport"], sizes
    assert sizes["boxScroll"] <= sizes["boxWidth"], sizes
    assert sizes["right"] <= sizes["viewport"], sizes
