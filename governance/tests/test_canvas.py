"""Canvases: sanitized content, and JavaScript for AUTONOMOUS agents only — never a proposal."""

from __future__ import annotations

import hashlib

import pytest

from atom.errors import ForbiddenError
from governance.models import AuditEntry, Canvas, CanvasAudit, Decision, Maturity, Proposal
from governance.sanitize import canvas_sanitize
from governance.services.execution import canvas_script_store
from governance.tests.factories import make_agent, make_canvas

pytestmark = pytest.mark.django_db

BLOCKED_SCRIPTS = [
    "eval('1+1')",
    "new Function('return 1')()",
    "setTimeout('alert(1)', 10)",
    'setInterval("x()", 10)',
    "const c = document.cookie",
    "localStorage.setItem('a', 1)",
    "sessionStorage.getItem('a')",
    "window.location = 'https://evil.example'",
    "window.top.postMessage(1)",
    "window.parent.x = 1",
    "fetch('https://evil.example')",
    "new XMLHttpRequest()",
    "navigator.sendBeacon('/x', 'y')",
    "document.write('<p>')",
    "document.createElement('script')",
    "el.innerHTML = '<img>'",
    "document['cookie']",
    "window['eval']('1')",
]


def _execute(client, canvas, code):
    return client.post(f"/api/v1/canvases/{canvas.pk}/execute/", {"code": code}, format="json")


@pytest.mark.parametrize("tier", [Maturity.STUDENT, Maturity.INTERN, Maturity.SUPERVISED])
def test_javascript_is_refused_below_autonomous_and_never_proposed(tier, client_for):
    canvas = make_canvas(agent=make_agent(maturity=tier))
    response = _execute(client_for(canvas.agent.owner), canvas, "console.log('hi')")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MATURITY_INSUFFICIENT"
    assert not Proposal.objects.exists()
    assert AuditEntry.objects.get().outcome == Decision.BLOCKED
    assert CanvasAudit.objects.get().outcome == "blocked"
    canvas.refresh_from_db()
    assert canvas.script == ""


@pytest.mark.parametrize("script", BLOCKED_SCRIPTS)
@pytest.mark.parametrize("case", [str, str.upper, str.swapcase])
def test_autonomous_scripts_with_blocklisted_patterns_are_refused_and_audited(script, case, client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    code = case(script)
    response = _execute(client_for(canvas.agent.owner), canvas, code)
    assert response.status_code == 403, code
    assert response.json()["error"]["code"] == "CANVAS_SCRIPT_REFUSED"
    audit = CanvasAudit.objects.get()
    assert (audit.outcome, audit.code_hash) == ("refused", hashlib.sha256(code.encode()).hexdigest())
    assert AuditEntry.objects.get().outcome == Decision.FAILED
    canvas.refresh_from_db()
    assert canvas.script == ""


@pytest.mark.parametrize("code", ["", "   ", "x" * (10 * 1024 + 1)])
def test_empty_and_oversized_scripts_are_refused(code, client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    response = _execute(client_for(canvas.agent.owner), canvas, code)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CANVAS_SCRIPT_REFUSED"


def test_a_clean_script_from_an_autonomous_agent_is_stored_and_audited(client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    code = "const total = [1, 2, 3].reduce((a, b) => a + b, 0);\nconsole.log(total);"
    response = _execute(client_for(canvas.agent.owner), canvas, code)
    assert response.status_code == 200, response.json()
    digest = hashlib.sha256(code.encode()).hexdigest()
    assert response.json()["script_hash"] == digest
    canvas.refresh_from_db()
    assert (canvas.script, canvas.script_hash) == (code, digest)
    assert CanvasAudit.objects.get().outcome == "stored"
    assert AuditEntry.objects.get().outcome == Decision.EXECUTE


def test_a_script_of_exactly_ten_kilobytes_is_accepted(client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    assert _execute(client_for(canvas.agent.owner), canvas, "x" * (10 * 1024)).status_code == 200


def test_storage_checks_the_tier_again_whatever_the_caller_decided(user):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.SUPERVISED))
    with pytest.raises(ForbiddenError) as caught:
        canvas_script_store(canvas=canvas, actor=user, code="console.log(1)")
    assert caught.value.code == "MATURITY_INSUFFICIENT"
    canvas.refresh_from_db()
    assert canvas.script == ""


def test_another_owners_canvas_answers_404(client_for, other_user):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    assert _execute(client_for(other_user), canvas, "console.log(1)").status_code == 404
    assert client_for(other_user).get(f"/api/v1/canvases/{canvas.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script>hi", "<script"),
        ('<img src="x" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "javascript"),
        ('<img src="data:image/png;base64,AAAA">', "data:"),
        ('<iframe src="https://evil.example"></iframe>', "<iframe"),
        ("<style>body{display:none}</style>", "<style"),
        ('<object data="x.swf"></object>', "<object"),
        ('<embed src="x.swf">', "<embed"),
        ('<p style="background:url(javascript:alert(1))">x</p>', "style="),
        ('<svg onload="alert(1)"></svg>', "onload"),
    ],
)
def test_the_sanitizer_removes_dangerous_markup(dirty, forbidden):
    assert forbidden not in canvas_sanitize(dirty).lower()


def test_the_sanitizer_keeps_ordinary_markup():
    assert canvas_sanitize('<p><strong>Hi</strong> <a href="https://x.example">x</a></p>').startswith("<p><strong>Hi</strong>")


def test_markdown_canvases_are_stored_sanitized_through_governance(client_for):
    agent = make_agent()
    response = client_for(agent.owner).post(
        "/api/v1/canvases/", {"agent": agent.pk, "kind": "markdown", "title": "T", "content": "# Hi <script>x()</script>"}, format="json"
    )
    assert response.status_code == 201, response.json()
    canvas = Canvas.objects.get()
    assert "<script" not in canvas.content
    assert AuditEntry.objects.get().action == "present_markdown"


def test_a_student_cannot_present_a_form(client_for):
    agent = make_agent()
    response = client_for(agent.owner).post(
        "/api/v1/canvases/", {"agent": agent.pk, "kind": "form", "schema": {"type": "object"}}, format="json"
    )
    assert response.status_code == 403
    assert not Canvas.objects.exists()


def test_a_chart_needs_a_json_object(client_for):
    agent = make_agent()
    response = client_for(agent.owner).post("/api/v1/canvases/", {"agent": agent.pk, "kind": "chart", "data": [1, 2]}, format="json")
    assert response.status_code == 400
    assert not Canvas.objects.exists()


def test_an_intern_updates_its_canvas(client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.INTERN))
    response = client_for(canvas.agent.owner).patch(
        f"/api/v1/canvases/{canvas.pk}/", {"content": "<b>new</b><script>x</script>"}, format="json"
    )
    assert response.status_code == 200, response.json()
    canvas.refresh_from_db()
    assert canvas.content == "<b>new</b>"


def test_a_script_with_a_nul_character_is_a_validation_error(client_for):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    response = _execute(client_for(canvas.agent.owner), canvas, "console.log(1)\x00")
    assert response.status_code == 400
    assert not CanvasAudit.objects.exists()


# Written as they are sent: the backslashes are characters of the script, not Python escapes.
BLOCKLIST_BYPASSES = [
    r'\u0065val("alert(1)")',
    r"\u{65}val('alert(1)')",
    r"x = document.\u0063ookie",
    r"top['\x65val']('1')",
    'location = "https://evil.example/"',
    'eval/**/("alert(1)")',
    '(0,eval)("alert(1)")',
    'eval.call(null, "alert(1)")',
    '(()=>{}).constructor("return 1")()',
    'document.createElementNS(ns,"script")',
    'document.location = "https://evil.example/"',
    'fetch/**/("https://evil.example/")',
    'document /**/ .write("<p>")',
    'window/**/["eval"]("1")',
    'x = "//"; document // a comment\n.write("<p>")',
]


@pytest.mark.regression("BUG-038")
@pytest.mark.parametrize("code", BLOCKLIST_BYPASSES)
def test_p2_security_canvas_script_blocklist_bypass_regression(code, client_for):
    """BUG-038 (P2, security): the canvas JavaScript blocklist was trivially bypassed. Escapes
    (``\\u0065val``, ``document.\\u0063ookie``), a comment between a name and what follows
    (``eval/**/(``), a name not directly called (``(0,eval)``, ``eval.call``), ``.constructor``,
    ``createElementNS`` and ``location =`` / ``document.location`` were all stored (200) for an
    AUTONOMOUS agent. Fix: a script with a ``\\u`` or ``\\x`` escape is refused, comments and whitespace
    between tokens no longer hide a blocked construct, and ``eval``, ``fetch``, ``Function``,
    ``.constructor``, ``createElementNS`` and location assignment are blocked (commit recorded in the
    catalog).
    """
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    response = _execute(client_for(canvas.agent.owner), canvas, code)
    assert response.status_code == 403, code
    assert response.json()["error"]["code"] == "CANVAS_SCRIPT_REFUSED"
    assert CanvasAudit.objects.get().outcome == "refused"
    canvas.refresh_from_db()
    assert canvas.script == ""


@pytest.mark.regression("BUG-039")
@pytest.mark.parametrize(
    ("markdown", "stored"),
    [
        ("[x](javascript:alert(1))", "[x](#)"),
        ("[x](JaVaScRiPt:alert(1) 'title')", "[x](# 'title')"),
        ("[x](java&#115;cript:alert(1))", "[x](#)"),
        (r"[x](javascript\:alert(1))", "[x](#)"),
        ("[x](vbscript:msgbox(1))", "[x](#)"),
        ("![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "![x](#)"),
        ("[x]: javascript:alert(1)\n\n[y][x]", "[x]: #\n\n[y][x]"),
        ("[x]:\n  data:text/html,hi", "[x]:\n  #"),
        ("[a](https://x.example/a_(b)) [b](/docs/page) [c](mailto:a@x.example) [d](#top)", None),
    ],
)
def test_p2_security_markdown_canvas_link_schemes_regression(markdown, stored, client_for):
    """BUG-039 (P2, security): markdown canvases kept ``javascript:`` and ``data:`` links. The sanitizer
    only cleaned HTML, and markdown link syntax is not HTML: a STUDENT's ``[x](javascript:alert(1))``,
    ``![x](data:text/html;base64,…)`` and ``[x]: javascript:…`` were stored unchanged (201). Fix: in a
    markdown canvas, a link or image destination whose scheme is not http, https or mailto is replaced
    by ``#``, as the HTML sanitizer drops such URLs (commit recorded in the catalog).
    """
    agent = make_agent()
    response = client_for(agent.owner).post(
        "/api/v1/canvases/", {"agent": agent.pk, "kind": "markdown", "content": markdown}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert Canvas.objects.get().content == (markdown if stored is None else stored)


def test_markdown_blockquotes_are_kept_through_sanitizing(client_for):
    agent = make_agent()
    content = "> quote\n> > nested\n\na > b <i>x</i>"
    response = client_for(agent.owner).post("/api/v1/canvases/", {"agent": agent.pk, "kind": "markdown", "content": content}, format="json")
    assert response.status_code == 201, response.json()
    assert Canvas.objects.get().content == "> quote\n> > nested\n\na &gt; b <i>x</i>"


@pytest.mark.regression("BUG-049")
def test_p3_integrity_refused_script_below_autonomous_is_audited_regression(client_for):
    """BUG-049 (P3, integrity): a script refused by the store left no audit row when the map let it through.

    With ``canvas_execute_javascript`` edited down to complexity 3 in the action map, a SUPERVISED
    agent's script passed the decision and was then refused by the store's own tier check; the
    refusal was raised inside the transaction that also held the audit row, so both were rolled back
    and the request left no trace. Every decision must write one audit row. Fix: a refusal raised
    while performing an action is audited as FAILED after the rollback (commit recorded in the catalog).
    """
    from governance.services.decision import action_policy_save

    action_policy_save(name="canvas_execute_javascript", complexity=3, proposable=False)
    canvas = make_canvas(agent=make_agent(maturity=Maturity.SUPERVISED))

    response = _execute(client_for(canvas.agent.owner), canvas, "console.log('hi')")

    assert response.status_code == 403
    audit = AuditEntry.objects.get()
    assert (audit.action, audit.outcome) == ("canvas_execute_javascript", Decision.FAILED)
    assert CanvasAudit.objects.get().outcome in ("blocked", "refused")
    canvas.refresh_from_db()
    assert canvas.script == ""
