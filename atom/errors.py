"""The one error type of domain code, and its family.

Services raise :class:`DomainError` (or a subclass) when a business rule says no; it carries the code,
status and details that the API answers with. The mapping to HTTP lives in :mod:`atom.api.errors`, so
domain code never imports the HTTP layer.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule said no. Carries the code, status and details of the API answer."""

    status_code = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status_code = status
        self.details: dict[str, Any] = details or {}


class NotFoundError(DomainError):
    status_code = 404
    code = "NOT_FOUND"


class ForbiddenError(DomainError):
    status_code = 403
    code = "PERMISSION_DENIED"


class ConflictError(DomainError):
    status_code = 409
    code = "CONFLICT"


class RateLimitedError(DomainError):
    status_code = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str = "Too many requests.", *, retry_after: int = 60, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, retry_after)
        self.details.setdefault("retry_after", self.retry_after)


class ServiceUnavailableError(DomainError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
