"""Canvases as the operator sees them in the admin, in a real headless browser, each kind kept as a
screenshot: Markdown rendered, a chart drawn from its spec, a form shown read-only, and an HTML canvas
whose script runs inside the sandboxed frame only."""

from __future__ import annotations

import pytest

from governance.models import Canvas, Maturity
from governance.services.canvases import canvas_create, canvas_script_execute
from governance.services.decision import action_map_seed
from governance.tests.factories import make_agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART = {
    "type": "bar",
    "title": "Runs per day <script>",
    "labels": ["Mon", "Tue", "Wed<b>"],
    "series": [{"name": "passed", "values": [12, 15, 9]}, {"name": "failed", "values": [1, 0, "x"]}],
}
FORM = {
    "title": "Release sign-off",
    "required": ["version"],
    "properties": {
        "version": {"type": "string", "title": "Version", "default": "1.4.0"},
        "channel": {"type": "string", "enum": ["stable", "beta"], "default": "beta"},
        "notify": {"type": "boolean", "title": "Notify the team", "default": True},
        "notes": {"type": "string", "format": "textarea", "default": "<img src=x onerror=alert(1)>"},
    },
}
MARKDOWN = "## Status\n\n- **3** bugs fixed\n- [report](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |"
SCRIPT = "document.querySelector('.canvas-html span').textContent = String(6 * 7);"


def _canvases():
    action_map_seed()  # the canvases are made through governance, on the map an earlier test's flush emptied
    agent = make_agent(maturity=Maturity.AUTONOMOUS)
    owner = agent.owner
    made = {}
    for kind, params in (
        ("markdown", {"title": "Weekly notes", "content": MARKDOWN}),
        ("chart", {"title": "Runs", "data": CHART}),
        ("form", {"title": "Sign-off", "schema": FORM}),
        ("html", {"title": "Counter", "content": "<p>Answer: <span>?</span></p>"}),
    ):
        outcome = canvas_create(actor=owner, agent_id=agent.pk, kind=kind, params=params)
        assert outcome.execution is not None
        result = outcome.execution.result
        assert isinstance(result, dict)
        made[kind] = Canvas.objects.get(pk=result["canvas_id"])
    canvas_script_execute(actor=owner, canvas=made["html"], code=SCRIPT)
    return made


def test_each_kind_of_canvas_is_rendered_in_the_admin(browser_page, admin_login, artifact_path):
    canvases = _canvases()
    admin_login(browser_page)
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    browser_page.on("dialog", dismiss)

    def open_frame(kind):
        browser_page.goto(f"/admin/governance/canvas/{canvases[kind].pk}/change/")
        return browser_page.frame_locator("iframe.canvas-frame")

    frame = open_frame("markdown")
    assert frame.locator(".canvas-markdown h2").inner_text() == "Status"
    assert frame.locator(".canvas-markdown table td").count() == 2
    assert frame.locator(".canvas-markdown a").get_attribute("rel") == "noopener noreferrer nofollow"
    browser_page.screenshot(path=artifact_path("canvas-markdown.png"), full_page=True)

    frame = open_frame("chart")
    svg = frame.locator(".canvas-chart svg")
    svg.wait_for()
    assert frame.locator(".canvas-chart svg script").count() == 0
    assert "Runs per day <script>" in frame.locator(".canvas-chart svg .title").first.text_content()
    assert frame.locator(".canvas-chart svg .rect").count() >= 5
    browser_page.screenshot(path=artifact_path("canvas-chart.png"), full_page=True)

    frame = open_frame("form")
    assert frame.locator(".canvas-form fieldset[disabled]").count() == 1
    assert frame.locator("input[name=version]").input_value() == "1.4.0"
    assert frame.locator("select[name=channel]").input_value() == "beta"
    assert frame.locator("input[name=notify]").is_checked()
    assert frame.locator("textarea[name=notes]").input_value() == "<img src=x onerror=alert(1)>"
    assert frame.locator(".canvas-form img").count() == 0
    browser_page.screenshot(path=artifact_path("canvas-form.png"), full_page=True)

    frame = open_frame("html")
    frame.locator(".canvas-html span:has-text('42')").wait_for()
    # The script ran in the frame only: the admin page around it is untouched.
    assert browser_page.locator(".canvas-html").count() == 0
    browser_page.screenshot(path=artifact_path("canvas-html-script.png"), full_page=True)
    assert dialogs == []
