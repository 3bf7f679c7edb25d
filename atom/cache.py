"""Django's Redis cache, with one Redis client per connection pool instead of one per operation.

``django.core.cache.backends.redis`` builds a new ``redis.Redis`` for every cache call, and redis-py
fills a table of some 170 response callbacks in each one: a third of a rate-limit check's cost, paid
three times per limit on every write request (P3 profile). The client holds no connection of its own
(the pool does) and is safe to share between threads, so :class:`RedisCache` keeps one per pool. The
keys and the values are Django's own.

``incr`` is one script run by Redis instead of Django's EXISTS then INCRBY: a counter whose key expired
between the two was created again by the INCRBY without an expiry, and a rate limit then counted it
for good (BUG-141). The script checks and increments atomically, in one round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

# KEYS[1] incremented by ARGV[1] if it exists (its expiry untouched); nil if it does not.
_INCR_IF_PRESENT = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrby', KEYS[1], ARGV[1]) end return false"


class RedisCacheClient(DjangoRedisCacheClient):
    # Django's own attributes, which its type stubs leave out.
    _servers: list[str]
    _pools: dict[int, Any]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _client: Callable[..., Any]
    _get_connection_pool_index: Callable[[bool], int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._scripts: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._pool_at(index))
        return client

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(_INCR_IF_PRESENT)
        value = script(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)

    def _pool_at(self, index: int) -> Any:
        if index not in self._pools:
            self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return self._pools[index]


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` sharing its Redis clients (see the module)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
