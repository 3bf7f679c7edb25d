"""One error shape for every API answer: the mapping of domain, framework and database errors to HTTP.

Every failure leaves the API as ``{"error": {"code": "SCREAMING_SNAKE", "message": ..., "details": {...}}}``
with the right status. Domain code raises :class:`atom.errors.DomainError` (or a subclass); framework and
database exceptions are mapped here, in one place. Unexpected exceptions become a generic 500 that names no
internals: the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django_ratelimit.exceptions import Ratelimited
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import exceptions as drf

from atom.errors import DomainError, RateLimitedError

logger = logging.getLogger("atom.api")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_json(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JsonResponse:
    """The error shape as a plain Django response, for middleware and URL-level handlers."""
    return JsonResponse(error_body(code, message, details), status=status)


_DRF_CODES: list[tuple[type[Exception], int, str]] = [
    (drf.NotAuthenticated, 401, "NOT_AUTHENTICATED"),
    (drf.AuthenticationFailed, 401, "AUTHENTICATION_FAILED"),
    (drf.MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
    (drf.UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (drf.NotAcceptable, 406, "NOT_ACCEPTABLE"),
    (drf.ParseError, 400, "MALFORMED_REQUEST"),
    (drf.NotFound, 404, "NOT_FOUND"),
    (drf.PermissionDenied, 403, "PERMISSION_DENIED"),
    (drf.Throttled, 429, "RATE_LIMITED"),
]


def _map(exc: Exception) -> tuple[int, str, str, dict[str, Any], dict[str, str]]:
    """Return (status, code, message, details, headers) for any exception."""
    if isinstance(exc, RateLimitedError):
        return exc.status_code, exc.code, exc.message, exc.details, {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, DomainError):
        return exc.status_code, exc.code, exc.message, exc.details, {}
    if isinstance(exc, drf.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return 400, "VALIDATION_ERROR", "The request is not valid.", details, {}
    if isinstance(exc, drf.Throttled):
        wait = int(getattr(exc, "wait", None) or 60)
        return 429, "RATE_LIMITED", "Too many requests.", {"retry_after": wait}, {"Retry-After": str(wait)}
    for exc_type, status, code in _DRF_CODES:
        if isinstance(exc, exc_type):
            assert isinstance(exc, drf.APIException)
            headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else {}  # type: ignore[attr-defined]
            return (
                status,
                code,
                str(exc.detail) if isinstance(exc.detail, str) else code.replace("_", " ").capitalize(),
                {},
                headers,
            )
    if isinstance(exc, Ratelimited):
        return 429, "RATE_LIMITED", "Too many requests.", {"retry_after": 60}, {"Retry-After": "60"}
    if isinstance(exc, Http404):
        return 404, "NOT_FOUND", "Not found.", {}, {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "PERMISSION_DENIED", "You do not have permission to perform this action.", {}, {}
    if isinstance(exc, RequestDataTooBig):
        return 413, "PAYLOAD_TOO_LARGE", "The request body is too large.", {}, {}
    if isinstance(exc, SuspiciousOperation):
        return 400, "BAD_REQUEST", "The request was refused.", {}, {}
    if isinstance(exc, DjangoValidationError):
        field_errors: dict[str, Any] = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return 400, "VALIDATION_ERROR", "The request is not valid.", field_errors, {}
    if isinstance(exc, (ProtectedError, RestrictedError)):
        return 409, "PROTECTED", "The object is referenced by other records and cannot be deleted.", {}, {}
    if isinstance(exc, IntegrityError):
        return 409, "CONFLICT", "The request conflicts with the current state of the data.", {}, {}
    if isinstance(exc, BrokerError):
        return 503, "SERVICE_UNAVAILABLE", "The task queue is unavailable; nothing was changed.", {}, {}
    if isinstance(exc, DatabaseError):
        logger.exception("Database error while handling a request")
        return 503, "SERVICE_UNAVAILABLE", "The database is unavailable.", {}, {}
    logger.exception("Unexpected error while handling a request")
    return 500, "INTERNAL_ERROR", "An unexpected error occurred.", {}, {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse:
    """DRF exception handler: every exception raised in a view becomes the one error shape.

    The answer is always JSON, whatever renderer the view negotiated (schema, HTML docs, CSV), so a
    client never has to parse an error in another format.
    """
    status, code, message, details, headers = _map(exc)
    if status >= 500 or isinstance(exc, (IntegrityError, DatabaseError)):
        # A failed write must not leave a half-open transaction behind (ATOMIC_REQUESTS or not).
        from rest_framework.views import set_rollback

        set_rollback()
    return JsonResponse(error_body(code, message, details), status=status, headers=headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception or SuspiciousOperation())
    return error_json(400, "BAD_REQUEST", "The request was refused.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception or DjangoPermissionDenied())
    return error_json(403, "PERMISSION_DENIED", "You do not have permission to perform this action.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception or Http404())
    return error_json(404, "NOT_FOUND", "Not found.")


def handler500(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return error_json(500, "INTERNAL_ERROR", "An unexpected error occurred.")
