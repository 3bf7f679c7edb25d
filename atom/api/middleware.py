"""Request-level guards that run before any view: request ids and body size limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from atom.api.errors import error_json

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RequestIdMiddleware:
    """Gives every request an id (a well-formed incoming X-Request-ID, else a new UUID) and echoes it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def request_id_of(request: Any) -> str:
    """The id RequestIdMiddleware gave this request (DRF requests proxy to the Django one)."""
    return str(getattr(request, "request_id", "") or "")


class BodySizeLimitMiddleware:
    """Answers 413 before a body is read when it is larger than the view allows.

    The limit is ``settings.ATOM_MAX_BODY_BYTES``; an upload view may raise it for itself with a
    ``max_body_bytes`` class attribute (never above ``ATOM_MAX_UPLOAD_BYTES``). Bodies without a
    Content-Length are refused with 411 so no request can stream an unbounded body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any) -> HttpResponse | None:
        if request.method not in _BODY_METHODS:
            return None
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        limit = min(int(getattr(view_class, "max_body_bytes", settings.ATOM_MAX_BODY_BYTES)), settings.ATOM_MAX_UPLOAD_BYTES)
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        if not raw_length:
            if request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                return error_json(411, "LENGTH_REQUIRED", "A Content-Length header is required.")
            return None
        try:
            length = int(raw_length)
        except ValueError:
            return error_json(400, "BAD_REQUEST", "The Content-Length header is not a number.")
        if length > limit:
            return error_json(413, "PAYLOAD_TOO_LARGE", "The request body is too large.", {"limit_bytes": limit})
        return None
