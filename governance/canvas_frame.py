"""The document a canvas is shown in: its content and script, served to a sandboxed frame under a
Content-Security-Policy that forbids the network.

Containment does not depend on the script blocklist (a first filter, which always leaves gaps):
- the frame is ``sandbox="allow-scripts"`` without ``allow-same-origin``, and the policy repeats the
  sandbox, so even opened on its own the document has an opaque origin: no cookie, no storage, no access
  to the admin's DOM, no popups, no top navigation, no form submission;
- the policy allows only the one inline script carrying this response's nonce and forbids every fetch,
  XHR, beacon, event source, WebSocket, image, font, media, frame, worker and form target, and framing by
  any page but Atom's own.
What no sandbox prevents: the frame can still navigate itself (``location = …``), taking what it holds
(its own canvas, nothing else) along. The README says so.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from governance.canvas_render import canvas_render
from governance.models import Canvas

FRAME_SANDBOX = "allow-scripts"
_NONE = ("connect-src", "img-src", "font-src", "media-src", "object-src", "frame-src", "child-src", "worker-src",
         "manifest-src", "prefetch-src", "form-action", "base-uri")  # fmt: skip


def canvas_frame_policy(*, nonce: str) -> str:
    """The Content-Security-Policy of a canvas document (every fetch directive spelled out, though
    ``default-src 'none'`` covers them, so that no browser's fallback rules matter)."""
    directives = [
        "default-src 'none'",
        f"script-src 'nonce-{nonce}'",
        "style-src 'unsafe-inline'",
        *(f"{name} 'none'" for name in _NONE),
        "frame-ancestors 'self'",
        f"sandbox {FRAME_SANDBOX}",
    ]
    return "; ".join(directives)


def _script_text(script: str) -> str:
    """The script as the body of a script element: "</" cannot close the element early."""
    return script.replace("</", "<\\/").replace("<!--", "<\\!--")


def canvas_frame_response(request: HttpRequest, canvas: Canvas) -> HttpResponse:
    """The canvas document, with its policy and headers."""
    nonce = secrets.token_urlsafe(18)
    context = {
        "canvas": canvas,
        # Canvas HTML is stored sanitized by the allow-list (governance.sanitize.canvas_sanitize).
        "content": mark_safe(canvas.content),  # noqa: S308  # nosec B308 B703 - sanitized on the way in
        "rendered": canvas_render(canvas),
        "script": mark_safe(_script_text(canvas.script)),  # noqa: S308  # nosec B308 B703 - contained by the policy
        "nonce": nonce,
    }
    response = HttpResponse(render_to_string("admin/governance/canvas/frame.html", context, request=request))
    response["Content-Security-Policy"] = canvas_frame_policy(nonce=nonce)
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
