"""The limiter's counter is django-ratelimit's own (same key, window and expiry), counted in one round trip."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
import redis
from django_ratelimit.core import get_usage

from atom.errors import RateLimitedError
from atom.ratelimit import rate_limit_enforce


def _count(group, key, rate):
    return get_usage(None, group=group, key=lambda _g, _r: key, rate=rate, increment=False)["count"]


def test_hits_are_counted_on_django_ratelimits_counter_and_refused_past_the_limit():
    group, key = f"test-{uuid.uuid4().hex}", "agent-7"
    for hit in range(1, 4):
        rate_limit_enforce(None, group=group, key=key, rate="3/m")
        assert _count(group, key, "3/m") == hit
    with pytest.raises(RateLimitedError) as refused:
        rate_limit_enforce(None, group=group, key=key, rate="3/m")
    assert 1 <= refused.value.retry_after <= 60
    # Another key, and the same key under another rate, count on their own.
    rate_limit_enforce(None, group=group, key="agent-8", rate="3/m")
    rate_limit_enforce(None, group=group, key=key, rate="10/m")


def test_limiting_switched_off_counts_nothing(settings):
    settings.RATELIMIT_ENABLE = False
    group = f"test-{uuid.uuid4().hex}"
    for _ in range(5):
        rate_limit_enforce(None, group=group, key="k", rate="1/m")


@pytest.mark.redis
def test_a_hit_in_a_running_window_is_one_redis_command_and_the_counter_expires(settings):
    settings.CACHES = {"default": {"BACKEND": "atom.cache.RedisCache", "LOCATION": settings.REDIS_URL, "KEY_PREFIX": uuid.uuid4().hex}}
    group = "test-commands"
    rate_limit_enforce(None, group=group, key="k", rate="100/h")  # creates the counter (and loads the script)
    sent = []
    real = redis.connection.Connection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return real(self, command, check_health)

    with mock.patch.object(redis.connection.Connection, "send_packed_command", counting):
        for _ in range(5):
            rate_limit_enforce(None, group=group, key="k", rate="100/h")
    assert len(sent) == 5
    assert _count(group, "k", "100/h") == 6
    client = redis.Redis.from_url(settings.REDIS_URL)
    (counter,) = client.keys(f"{settings.CACHES['default']['KEY_PREFIX']}*")
    assert 0 < client.ttl(counter) <= 3600 + 5
