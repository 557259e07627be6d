"""How many calls a contender may have in flight, across every worker.

With Redis (REDIS_URL), the slots live in Redis, so the limit holds across all worker processes
and machines. Embedded (no Redis, one worker process), a lock in the process does the same job, and
so it does while Redis is unreachable (the limit then holds per worker process).
A slot is a lease: if its holder dies, the slot frees itself when the lease runs out.
"""

import threading
import time
import uuid
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings

from arena import stores

# Remove expired holders, then take a slot if one is free. Atomic in Redis.
_ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class ConcurrencySlots(Protocol):
    def acquire(self, key: str, *, limit: int, lease_seconds: float) -> str | None:
        """A token if a slot was free, else None."""

    def release(self, key: str, token: str) -> None: ...

    def in_use(self, key: str) -> int: ...


class RedisConcurrencySlots:
    """Slots in Redis; while Redis is unreachable, slots in this process (tokens marked "local:")."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._acquire = self._redis.register_script(_ACQUIRE_SCRIPT)
        self._local = LocalConcurrencySlots()

    def acquire(self, key: str, *, limit: int, lease_seconds: float) -> str | None:
        token = uuid.uuid4().hex

        def in_redis() -> str | None:
            now = time.time()
            taken = self._acquire(
                keys=[f"arena:slots:{key}"],
                args=[now, limit, now + lease_seconds, token, int(lease_seconds * 1000) + 1000],
            )
            return token if taken else None

        def here() -> str | None:
            local = self._local.acquire(key, limit=limit, lease_seconds=lease_seconds)
            return None if local is None else f"local:{local}"

        return stores.call(stores.CACHE, "contender call slots", in_redis, fallback=here)

    def release(self, key: str, token: str) -> None:
        if token.startswith("local:"):
            self._local.release(key, token.removeprefix("local:"))
            return
        # Unreleased, the slot frees itself when its lease runs out.
        stores.call(
            stores.CACHE,
            "contender call slots",
            lambda: self._redis.zrem(f"arena:slots:{key}", token),
            fallback=lambda: 0,
        )

    def in_use(self, key: str) -> int:
        name = f"arena:slots:{key}"

        def in_redis() -> int:
            self._redis.zremrangebyscore(name, "-inf", time.time())
            return int(self._redis.zcard(name))

        return stores.call(
            stores.CACHE, "contender call slots", in_redis, fallback=lambda: self._local.in_use(key)
        )


class LocalConcurrencySlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, dict[str, float]] = {}

    def acquire(self, key: str, *, limit: int, lease_seconds: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            holders = {token: until for token, until in self._holders.get(key, {}).items() if until > now}
            if len(holders) >= limit:
                self._holders[key] = holders
                return None
            token = uuid.uuid4().hex
            holders[token] = now + lease_seconds
            self._holders[key] = holders
            return token

    def release(self, key: str, token: str) -> None:
        with self._lock:
            self._holders.get(key, {}).pop(token, None)

    def in_use(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for until in self._holders.get(key, {}).values() if until > now)


@lru_cache(maxsize=1)
def concurrency_slots() -> ConcurrencySlots:
    if settings.REDIS_URL:
        return RedisConcurrencySlots(settings.REDIS_URL)
    return LocalConcurrencySlots()
