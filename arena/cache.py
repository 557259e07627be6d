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
