"""DRF's side of the rate limits: the per-user write throttle, enforced through :mod:`atom.ratelimit`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from atom.ratelimit import rate_limit_enforce


class WriteRateThrottle(BaseThrottle):
    """Every write (POST, PUT, PATCH, DELETE) counts against its user's ``ATOM_WRITE_RATE_PER_USER``.

    Runs as DRF's default throttle, after authentication, on the shared cache like every other limit.
    """

    def allow_request(self, request: Any, view: Any) -> bool:
        user = getattr(request, "user", None)
        if request.method in ("GET", "HEAD", "OPTIONS") or not (user and user.is_authenticated):
            return True
        rate_limit_enforce(request, group="writes-per-user", key=str(user.pk), rate=settings.ATOM_WRITE_RATE_PER_USER)
        return True
