"""Rate limits on the shared cache (django-ratelimit), answered as 429 with Retry-After.

Limits fail closed: if the cache cannot be reached the request is refused with 503 rather than let
through unlimited. Only errors of the cache itself are reported that way; a bug is not an outage.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from atom.errors import RateLimitedError, ServiceUnavailableError

logger = logging.getLogger("atom.ratelimit")


def client_ip(request: Any) -> str:
    """The client address: the trusted proxy's header when one is configured, else REMOTE_ADDR.

    X-Forwarded-For and friends are ignored unless ``ATOM_TRUSTED_PROXY_HEADER`` names them, so a
    client cannot reset its counters by rotating a header.
    """
    header = settings.ATOM_TRUSTED_PROXY_HEADER
    if header:
        meta_key = "HTTP_" + header.upper().replace("-", "_")
        value = str(request.META.get(meta_key, "")).split(",")[-1].strip()
        if value:
            return value
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")  # noqa: S104  # nosec B104 - a key, not a bind address


def rate_limit_enforce(request: Any, *, group: str, key: str, rate: str) -> None:
    """Count one hit for ``key`` in ``group`` and raise RateLimitedError once over ``rate``."""
    try:
        usage = get_usage(request, group=group, key=lambda _group, _request: key, rate=rate, increment=True)
    except (OSError, RedisError) as exc:  # the cache is unreachable or failing (sockets, files, Redis)
        logger.warning("Rate-limit cache unavailable for %s: %s", group, type(exc).__name__)
        raise ServiceUnavailableError("Rate limiting is unavailable; try again shortly.", code="RATE_LIMIT_UNAVAILABLE") from exc
    if usage is not None and usage["should_limit"]:
        raise RateLimitedError(retry_after=max(1, int(usage["time_left"])), details={"scope": group})
