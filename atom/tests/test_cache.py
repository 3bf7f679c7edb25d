"""The Redis cache shares one client per connection pool and behaves as Django's own."""

from __future__ import annotations

import contextlib
import uuid
from unittest import mock

import pytest
import redis
from django.core.cache import caches

from atom.cache import RedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def cache(settings):
    prefix = f"atom-test-cache-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {"BACKEND": "atom.cache.RedisCache", "LOCATION": settings.REDIS_URL, "KEY_PREFIX": prefix}}
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    yield cache
    cache.delete_many(["warm", "hits", "nested"])  # never clear(): the database may hold other data


def test_the_cache_answers_as_djangos_and_builds_no_client_per_call(cache):
    cache.set("warm", 1)
    with mock.patch.object(redis.Redis, "__init__", side_effect=AssertionError("a client per call")):
        assert cache.add("hits", 1, 60) is True
        assert cache.add("hits", 1, 60) is False
        assert cache.incr("hits") == 2
        assert cache.get("hits") == 2
        cache.set("nested", {"emoji": "🚀", "list": [1, {"a": None}]}, 60)
        assert cache.get("nested") == {"emoji": "🚀", "list": [1, {"a": None}]}
        assert cache.get_many(["hits", "missing"]) == {"hits": 2}
        with pytest.raises(ValueError, match="not found"):
            cache.incr("missing")
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=False)


@pytest.mark.regression("BUG-141")
def test_p2_infrastructure_a_counter_expiring_mid_increment_never_expires_again_regression(cache):
    """BUG-141 (P2, infrastructure): a rate-limit counter whose key expired between Django's existence check
    and its INCRBY was created again by the INCRBY, without an expiry, and counted for good: the user
    stayed refused until someone deleted the key. The expiry is simulated right before the increment."""
    cache.set("hits", 5, 60)
    real_incrby = redis.Redis.incrby

    def expiring_first(self, name, amount=1):
        self.delete(name)
        return real_incrby(self, name, amount)

    # The key gone, "not found" is a right answer too: the limiter then starts a fresh window.
    with (
        mock.patch.object(redis.Redis, "incrby", expiring_first),
        mock.patch.object(redis.Redis, "incr", expiring_first),
        contextlib.suppress(ValueError),
    ):
        cache.incr("hits")
    key = cache.make_and_validate_key("hits")
    assert cache._cache.get_client(write=True).ttl(key) != -1, "the counter was left without an expiry"
