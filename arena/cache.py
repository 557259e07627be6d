"""Django's Redis cache, keeping one client per connection pool.

Django builds a new `redis.Redis` for every cache call; with redis-py 8 that object costs about
0.15 ms to build (its table of response callbacks), more than the call itself on a local Redis. A
vote makes a dozen cache calls. The client is thread-safe and holds no connection of its own
(connections come from the pool), so one per pool is enough.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self  # the private helpers below are Django's, not in its type stubs
        index = django_client._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = django_client._get_connection_pool(write)
            client = self._clients[index] = django_client._client(connection_pool=pool)
        return client


class ArenaRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient


def windows_count(windows: list[tuple[str, int]]) -> list[int]:
    """Count one more event in each fixed window (key, its length in seconds) and return the counts.

    On Redis in one round trip (INCR, and EXPIRE on a new key, for each window); on another cache
    (the embedded database cache) key by key. Raises what the cache raises when it is unreachable:
    callers go through arena.stores.call.
    """
    from django.core.cache import caches

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        redis_cache: Any = cache  # its client is Django's private attribute, not in the type stubs
        client = redis_cache._cache.get_client(write=True)
        pipeline = client.pipeline(transaction=False)
        for key, seconds in windows:
            full_key = cache.make_and_validate_key(key)
            pipeline.incr(full_key)
            pipeline.expire(full_key, seconds, nx=True)
        replies = pipeline.execute()
        return [int(count) for count in replies[0::2]]
    counts = []
    for key, seconds in windows:
        cache.add(key, 0, timeout=seconds)
        try:
            counts.append(int(cache.incr(key)))
        except ValueError:  # the window ended between the two calls
            cache.set(key, 1, timeout=seconds)
            counts.append(1)
    return counts
