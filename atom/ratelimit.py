"""Rate limits on the shared cache (django-ratelimit), answered as 429 with Retry-After.

Limits fail closed: if the cache cannot be reached the request is refused with 503 rather than let
through unlimited. Only errors of the cache itself are reported that way; a bug is not an outage.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import ALL, EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
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
        usage = _usage(group=group, key=key, rate=rate)
    except (OSError, RedisError) as exc:  # the cache is unreachable or failing (sockets, files, Redis)
        logger.warning("Rate-limit cache unavailable for %s: %s", group, type(exc).__name__)
        raise ServiceUnavailableError("Rate limiting is unavailable; try again shortly.", code="RATE_LIMIT_UNAVAILABLE") from exc
    if usage is not None and usage[0] > usage[1]:
        raise RateLimitedError(retry_after=max(1, usage[2]), details={"scope": group})


def _usage(*, group: str, key: str, rate: str) -> tuple[int, int, int] | None:
    """(count after this hit, limit, seconds left in the window), or None when limiting is off.

    django-ratelimit's counter (its window, key and expiry, so its decorators and this count alike),
    incremented first and created only when missing: one round trip per hit once the window has
    begun instead of its add-then-increment two. A counter that cannot be read counts as over the
    limit (fail closed, as django-ratelimit without RATELIMIT_FAIL_OPEN).
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    limit, period = _split_rate(rate)
    window = _get_window(key, period)
    cache_key = _make_cache_key(group, window, rate, key, ALL)
    cache = caches[settings.RATELIMIT_USE_CACHE]
    count = _incremented(cache, cache_key)
    if count is None:
        count = 1 if cache.add(cache_key, 1, period + EXPIRATION_FUDGE) else _incremented(cache, cache_key)
    if not count:
        return 1, 0, 1
    return int(count), limit, window - int(time.time())


def _incremented(cache: Any, cache_key: str) -> int | None:
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # no counter yet (or it just expired)
        return None
