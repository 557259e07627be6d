"""Redis may vanish at any time: calls to it fail open, are logged once per outage, counted, and shown
to staff.

Redis holds the cache (rate-limit windows, coalescing flags, the API throttle), the contenders' call
slots and, usually, the Celery broker. None of it is needed to serve a battle or count a vote, so
each call names what to do without it (`fallback`). While a store fails, a breaker skips it for
`_RETRY_SECONDS` after each failure, so an outage costs a request nothing; the first call after that
tries again, and the first success ends the outage.

Each outage is a row (`arena.models.StoreOutage`): when it began and ended, the last error, and how
many calls went without the store, by purpose. Every process adds its own counts, at most every
`_FLUSH_SECONDS`; the readiness endpoint and the admin show them.
"""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import redis.exceptions
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger("arena.stores")

T = TypeVar("T")

CACHE = "cache"  # Django's cache in Redis: rate limits, flags, the API throttle, call slots
BROKER = "broker"  # the Celery broker: queuing tasks

# A failure is a connection problem, never a bug: anything else still raises.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    BrokerOperationalError,
    ConnectionError,
    TimeoutError,
)
# Replies of a Redis that is up but refuses writes: out of memory, a failed snapshot, a replica.
_REFUSING_REPLIES = ("OOM", "MISCONF", "READONLY", "MASTERDOWN", "NOREPLICAS", "LOADING", "BUSY")
_RETRY_SECONDS = 1.0
_FLUSH_SECONDS = 10.0


@dataclass
class _Breaker:
    store: str
    failing_since: float | None = None
    retry_at: float = 0.0
    last_error: str = ""
    unrecorded: Counter[str] = field(default_factory=Counter)
    recorded_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_breakers = {store: _Breaker(store) for store in (CACHE, BROKER)}


def call(store: str, purpose: str, operation: Callable[[], T], *, fallback: Callable[[], T]) -> T:
    """`operation()`, or `fallback()` when the store cannot be reached (or failed a moment ago).

    While a store fails, one caller a second tries it again; the others go on without it meanwhile,
    so that a store that does not answer at all (a host gone, not a refused connection) holds up one
    request a second, not all of them.
    """
    breaker = _breakers[store]
    if breaker.failing_since is not None and not _may_try(breaker):
        _count(breaker, purpose)
        return fallback()
    try:
        result = operation()
    except STORE_ERRORS as error:
        _failed(breaker, purpose, error)
        return fallback()
    except redis.exceptions.ResponseError as error:
        if not str(error).startswith(_REFUSING_REPLIES):
            raise  # a bug (a wrong command or script), not an outage
        _failed(breaker, purpose, error)
        return fallback()
    if breaker.failing_since is not None:
        _recovered(breaker)
    return result


def _may_try(breaker: "_Breaker") -> bool:
    """Whether this caller is the one to try the failing store again now."""
    now = time.monotonic()
    with breaker.lock:
        if now < breaker.retry_at:
            return False
        breaker.retry_at = now + _RETRY_SECONDS
        return True


def is_failing(store: str) -> bool:
    """Whether this process last found the store unreachable."""
    return _breakers[store].failing_since is not None


def _failed(breaker: _Breaker, purpose: str, error: BaseException) -> None:
    now = time.monotonic()
    with breaker.lock:
        first = breaker.failing_since is None
        if first:
            breaker.failing_since = now
        breaker.retry_at = now + _RETRY_SECONDS
        breaker.last_error = f"{type(error).__name__}: {error}"[:500]
        breaker.unrecorded[purpose] += 1
    if first:
        logger.warning(
            "%s unreachable (%s): going on without it — %s",
            breaker.store,
            breaker.last_error,
            _CONSEQUENCES[breaker.store],
        )
        _record(breaker, force=True)
    else:
        _record(breaker)


def _count(breaker: _Breaker, purpose: str) -> None:
    with breaker.lock:
        breaker.unrecorded[purpose] += 1
    _record(breaker)


def _recovered(breaker: _Breaker) -> None:
    with breaker.lock:
        if breaker.failing_since is None:
            return
        seconds = time.monotonic() - breaker.failing_since
        breaker.failing_since = None
        counts = sum(breaker.unrecorded.values())
    logger.warning(
        "%s reachable again after %.0f s (%s calls went without it since the last record)",
        breaker.store,
        seconds,
        counts,
    )
    _record(breaker, force=True, ended=True)


_CONSEQUENCES = {
    CACHE: "rate limits are counted in PostgreSQL, the API throttle is off, locks and flags fall back",
    BROKER: "tasks are not queued; beat and the catch-up after reconnection do the work later",
}


def _record(breaker: _Breaker, *, force: bool = False, ended: bool = False) -> None:
    """Write this process's counts to the outage's row (at most every _FLUSH_SECONDS)."""
    now = time.monotonic()
    with breaker.lock:
        if not force and now - breaker.recorded_at < _FLUSH_SECONDS:
            return
        breaker.recorded_at = now
        counts, breaker.unrecorded = breaker.unrecorded, Counter()
        error = breaker.last_error
    try:
        from arena.services import store_outage_record

        store_outage_record(store=breaker.store, error=error, fallbacks=dict(counts), ended=ended)
    except Exception:  # the database may be down too: the counts are only lost, never fatal
        logger.debug("could not record the %s outage", breaker.store, exc_info=True)


def reset_for_tests() -> None:
    for breaker in _breakers.values():
        with breaker.lock:
            breaker.failing_since = None
            breaker.retry_at = 0.0
            breaker.unrecorded = Counter()
            breaker.recorded_at = 0.0
