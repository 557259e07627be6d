"""Django's Redis cache, keeping one client per connection pool.

Django builds a new `redis.Redis` for every cache call; with redis-py 8 that object costs about
0.15 ms to build (its table of response callbacks), more than the call itself on a local Redis. A
vote makes a dozen cache calls. The client is thread-safe and holds no connection of its own
(connections come from the pool), so one per pool is enough.
"""

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
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


# DECR each key that still exists (one that has expired meanwhile is not made again, without a TTL).
_UNCOUNT_SCRIPT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0
"""
_uncount_script_sha = hashlib.sha1(_UNCOUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's script id)
# INCR each key, and give a new one its window (ARGV[i] seconds): one command, whatever the number of
# windows (a pipeline costs the client as much again per command).
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[i], 'NX')
end
return counts
"""
_count_script_sha = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's script id)


@dataclass(frozen=True)
class _Rider:
    key: str
    seconds: int
    counted: Callable[[int], None]


_riders = threading.local()


def windows_count_along(key: str, seconds: int, counted: Callable[[int], None]) -> None:
    """Have this thread's next windows_count (in this request) count one more event in this window
    too, in the same round trip, and call `counted(count)` with its count then (which may raise: the
    API throttle refusing the request, before the request's own work). Replaces any left over.
    Whatever no call took along is counted by windows_count_settle, which the request must call."""
    _riders.pending = [_Rider(key, seconds, counted)]


def windows_count_settle() -> None:
    """Count what windows_count_along left and no windows_count took along (in one round trip)."""
    if getattr(_riders, "pending", None):
        windows_count([])


def windows_count_forget() -> None:
    """Drop what windows_count_along left (the request is over)."""
    _riders.pending = []


def windows_count(windows: list[tuple[str, int]]) -> list[int]:
    """Count one more event in each fixed window (key, its length in seconds) and return the counts;
    windows_count_along's windows are counted too, and told their counts.

    On Redis in one round trip (a script: INCR, and EXPIRE on a new key, for each window); on
    another cache (the embedded database cache) key by key. Raises what the cache raises when it is
    unreachable: callers go through arena.stores.call (the windows taken along stay pending then).
    """
    from django.core.cache import caches

    riders: list[_Rider] = getattr(_riders, "pending", None) or []
    everything = [*windows, *((rider.key, rider.seconds) for rider in riders)]
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        redis_cache: Any = cache  # its client is Django's private attribute, not in the type stubs
        client = redis_cache._cache.get_client(write=True)
        keys = [cache.make_and_validate_key(key) for key, _ in everything]
        arguments = [*keys, *(seconds for _, seconds in everything)]
        try:
            replies = client.execute_command("EVALSHA", _count_script_sha, len(keys), *arguments)
        except redis.exceptions.NoScriptError:  # a new or restarted Redis: load it once
            replies = client.execute_command("EVAL", _COUNT_SCRIPT, len(keys), *arguments)
        counts = [int(count) for count in replies]
    else:
        counts = []
        for key, seconds in everything:
            cache.add(key, 0, timeout=seconds)
            try:
                counts.append(int(cache.incr(key)))
            except ValueError:  # the window ended between the two calls
                cache.set(key, 1, timeout=seconds)
                counts.append(1)
    _riders.pending = []
    try:
        for rider, count in zip(riders, counts[len(windows) :], strict=True):
            rider.counted(count)
    except BaseException:
        # Refused by what rode along (the API throttle): the caller's own windows count nothing.
        if windows:
            windows_uncount([key for key, _ in windows])
        raise
    return counts[: len(windows)]


def windows_uncount(keys: list[str]) -> None:
    """Take one event back from each of these windows (counted by windows_count); a window that has
    ended meanwhile is left alone."""
    from django.core.cache import caches

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        redis_cache: Any = cache
        client = redis_cache._cache.get_client(write=True)
        full_keys = [cache.make_and_validate_key(key) for key in keys]
        try:
            client.execute_command("EVALSHA", _uncount_script_sha, len(full_keys), *full_keys)
        except redis.exceptions.NoScriptError:
            client.execute_command("EVAL", _UNCOUNT_SCRIPT, len(full_keys), *full_keys)
        return
    for key in keys:
        with contextlib.suppress(ValueError):  # the window has ended
            cache.decr(key)
