"""The operator's flows through the admin in a real headless browser, with screenshots kept as artifacts:
the dashboard, approving an INTERN's proposal, a bug from registration to a finished run, the triage export.
"""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from bugs.models import Bug, RegressionTest, Run, Suite
from bugs.services.bugs import bug_create
from console.tests.factories import dashboard_data_fill
from governance.models import ActionExecution, AuditEntry, Maturity
from governance.services.actions import agent_action_request
from governance.services.decision import action_map_seed
from governance.tests.factories import make_agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Eight tests of 0.4 s each: the bar, polled every second, is seen between the start and the end.
TINY_SUITE = """
import time

import pytest


@pytest.mark.parametrize("step", range(8))
def test_step(step):
    time.sleep(0.4)
    assert step >= 0
"""


RUN_MOVING = """() => {
    const bar = document.querySelector("[data-run-progress] progress");
    return bar !== null && bar.value > 0 && bar.value < bar.max;
}"""
RUN_FINISHED = """() => {
    const bar = document.querySelector("[data-run-progress] progress");
    const text = document.querySelector("[data-run-progress] .run-progress-text");
    return bar !== null && bar.max === 8 && bar.value === bar.max && /passed/.test(text.textContent);
}"""


def _select_action(page, name: str, pks: list[int]) -> None:
    for pk in pks:
        page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", name)
    page.click("button[name=index]")


def test_the_dashboard_is_linked_from_the_index_and_draws_every_chart(browser_page, admin_login, artifact_path):
    dashboard_data_fill(12)
    admin_login(browser_page)
    browser_page.click("#dashboard-link a")
    browser_page.wait_for_url("**/admin/dashboard/")
    browser_page.screenshot(path=artifact_path("dashboard.png"), full_page=True)
    assert browser_page.locator("svg.pygal-chart").count() == 5
    for panel in ("open-bugs", "sla", "pass-rate", "tiers", "actions"):
        assert browser_page.locator(f"#panel-{panel} svg.pygal-chart .series").count() >= 1
    assert browser_page.locator("#figure-proposals strong").inner_text() == "12"
    browser_page.locator("#panel-tiers svg a").first.click()
    browser_page.wait_for_url("**/admin/governance/agent/?maturity__exact=STUDENT")
    assert browser_page.locator("#result_list tbody tr").count() == 3


def test_an_operator_approves_an_interns_proposal_and_sees_it_executed(browser_page, admin_login, artifact_path, user):
    action_map_seed()
    agent = make_agent(owner=user, maturity=Maturity.INTERN, name="intern-mailer")
    params = {"to": "ops@example.com"}
    outcome = agent_action_request(actor=user, agent_id=agent.pk, action="send_email", params=params, cost=Decimal("1.00"))
    proposal = outcome.proposal
    assert proposal is not None

    admin_login(browser_page)
    browser_page.goto("/admin/governance/proposal/?status__exact=pending")
    assert browser_page.locator("#result_list tbody tr").count() == 1
    browser_page.screenshot(path=artifact_path("proposal-pending.png"), full_page=True)
    _select_action(browser_page, "approve", [proposal.pk])
    assert f"Proposal #{proposal.pk}: executed." in browser_page.locator(".messagelist").inner_text()
    browser_page.screenshot(path=artifact_path("proposal-approved.png"), full_page=True)

    proposal.refresh_from_db()
    assert proposal.status == "executed"
    execution = ActionExecution.objects.get(proposal=proposal)
    browser_page.click(f".messagelist a:has-text('Execution #{execution.pk}')")
    browser_page.wait_for_url(f"**/admin/governance/actionexecution/{execution.pk}/change/")
    assert "ops@example.com" in browser_page.locator("#content").inner_text()
    browser_page.screenshot(path=artifact_path("execution.png"), full_page=True)
    browser_page.goto("/admin/governance/agent/")
    assert browser_page.locator("#result_list span", has_text="INTERN").count() == 1
    browser_page.screenshot(path=artifact_path("agent-badges.png"), full_page=True)
    browser_page.goto("/admin/governance/auditentry/?outcome__exact=approved")
    assert "send_email" in browser_page.locator("#result_list").inner_text()
    browser_page.screenshot(path=artifact_path("audit-approved.png"), full_page=True)
    assert AuditEntry.objects.filter(agent=agent, outcome="approved").count() == 1
    assert execution.agent_id == agent.pk


@pytest.fixture
def tiny_default_suite(tmp_path: Path) -> Suite:
    """The default suite pointed at a small pytest project in a git repository."""
    checkout = tmp_path / "tiny"
    (checkout / "tests").mkdir(parents=True)
    (checkout / "pytest.ini").write_text("[pytest]\n")
    (checkout / "tests" / "test_tiny.py").write_text(TINY_SUITE)
    identity = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", "Tiny suite"]):
        subprocess.run(["git", "-C", str(checkout), *command], check=True, capture_output=True)
    suite, _ = Suite.objects.update_or_create(
        name=settings.ATOM_BUGS_DEFAULT_SUITE,
        defaults={
            "checkout_path": str(checkout),
            "pytest_args": [],
            "timeout_seconds": 120,
            "environment": {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        },
    )
    return suite


def test_an_operator_registers_a_bug_runs_its_tests_and_watches_the_progress(
    browser_page, admin_login, artifact_path, tiny_default_suite, celery_worker_process
):
    admin_login(browser_page)
    browser_page.goto("/admin/bugs/bug/add/")
    browser_page.fill("#id_key", "BUG-900")
    browser_page.fill("#id_title", "Steps refuse to run in order")
    browser_page.select_option("#id_severity", "P1")
    browser_page.select_option("#id_category", "integrity")
    browser_page.click("#id_discovered_at_0 ~ span a")  # the admin's "Today" shortcut
    browser_page.click("#id_discovered_at_1 ~ span a")  # "Now"
    browser_page.fill("#id_regression_tests-0-node_id", "tests/test_tiny.py::test_step")
    browser_page.screenshot(path=artifact_path("bug-add.png"), full_page=True)
    browser_page.click("input[name=_save]")
    assert "was added successfully" in browser_page.locator(".messagelist").inner_text()
    bug = Bug.objects.get(key="BUG-900")
    assert list(RegressionTest.objects.filter(bug=bug).values_list("node_id", flat=True)) == ["tests/test_tiny.py::test_step"]

    _select_action(browser_page, "run_regression_tests", [bug.pk])
    browser_page.locator(".messagelist a").click()
    browser_page.wait_for_url("**/admin/bugs/run/*/change/")
    run = Run.objects.get()
    browser_page.wait_for_function(RUN_MOVING, timeout=60_000)
    browser_page.screenshot(path=artifact_path("run-in-progress.png"), full_page=True)
    browser_page.wait_for_function(RUN_FINISHED, timeout=90_000)
    browser_page.wait_for_load_state()
    browser_page.screenshot(path=artifact_path("run-finished.png"), full_page=True)
    run.refresh_from_db()
    assert (run.status, run.done, run.passed) == ("passed", 8, 8)


def test_an_operator_exports_the_triage_report(browser_page, admin_login, artifact_path):
    first = bug_create(key="BUG-901", title="Budget charged twice", severity="P0", category="cost_leak")
    second = bug_create(key="BUG-902", title="Slow audit page", severity="P3")
    admin_login(browser_page)
    browser_page.goto("/admin/bugs/bug/")
    browser_page.screenshot(path=artifact_path("bug-list.png"), full_page=True)
    with browser_page.expect_download() as download_info:
        _select_action(browser_page, "export_triage_report", [first.pk, second.pk])
    download = download_info.value
    assert download.suggested_filename.startswith("bug_triage_report_")
    assert download.suggested_filename.endswith(".md")
    target = artifact_path(download.suggested_filename)
    download.save_as(target)
    text = Path(target).read_text()
    assert "BUG-901" in text
    assert "Budget charged twice" in text
    assert "BUG-902" in text
