""" "At most one at a time, and once more if anything arrived meanwhile", without polling and without
Redis: PostgreSQL advisory locks, held by a database session, so a process that dies frees its
locks at once. (The embedded SQLite mode runs one worker process: a lock in the process does.)

    one_at_a_time("ratings-refresh", work=refresh, pending=votes_not_on_the_board, later=queue_in)
    one_at_a_time("pool-refill", work=refill, pending=pool_below_target)
    with lock_held("ratings-refresh", wait=True):   # the rebuild: wait for a refresh to end (no polling)
        ...
    with lock_held("some-job") as held:     # try once: False if another process holds it
        ...
"""

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

_local_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
# When this process last started each one_at_a_time's work (time.monotonic()), for its gap.
_last_runs: dict[str, float] = {}
_NAMESPACE = "arena:"
# A run due this soon after the gap starts at once: a delayed task may arrive a moment early.
_GAP_SLACK_SECONDS = 0.05


def _key(name: str) -> int:
    """A stable signed 64-bit key for the lock's name."""
    digest = hashlib.sha256((_NAMESPACE + name).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def lock_held(name: str, *, wait: bool = False, timeout_seconds: float | None = None) -> Iterator[bool]:
    """Hold the named lock while the block runs. Yields whether it is held: with `wait`, after
    waiting for the holder (at most `timeout_seconds`, if given: then False); without, False at once
    if another process holds it."""
    if connection.vendor != "postgresql":
        local = _local_locks[name]
        held = local.acquire(
            blocking=wait, timeout=-1 if timeout_seconds is None or not wait else timeout_seconds
        )
        try:
            yield held
        finally:
            if held:
                local.release()
        return
    key = _key(name)
    held = _take(key, wait=wait, timeout_seconds=timeout_seconds)
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except (DatabaseError, InterfaceError):
                # The session is gone (and its locks with it), or its transaction failed and cannot run
                # the unlock: closing the session is what releases the lock then.
                connection.close()


def transaction_lock_statement(name: str, *, timeout_seconds: float) -> tuple[str, list[Any]]:
    """The statement (and its parameters) that takes the named lock for the rest of the current
    transaction on PostgreSQL, waiting at most `timeout_seconds` for its holder: run it inside
    transaction.atomic(); if the wait runs out it raises OperationalError (see lock_wait_ran_out).
    Cheaper than lock_held when the work is one transaction anyway: no unlock, and it can be sent
    with the statement that follows it (arena.rows.execute's `first`). The time limit applies to
    this wait only: the rest of the transaction waits as long as the session's setting says."""
    return (
        "SELECT set_config('lock_timeout', %s, true), pg_advisory_xact_lock(%s); "
        "SET LOCAL lock_timeout TO DEFAULT",
        [f"{round(timeout_seconds * 1000)}ms", _key(name)],
    )


def lock_wait_ran_out(error: DatabaseError) -> bool:
    """Whether this error is PostgreSQL's lock_timeout (lock_not_available)."""
    return getattr(getattr(error, "__cause__", None), "pgcode", None) == "55P03"


def _take(key: int, *, wait: bool, timeout_seconds: float | None) -> bool:
    if not wait:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            return bool(cursor.fetchone()[0])
    if timeout_seconds is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        return True
    try:
        # A transaction (a savepoint inside one) scopes the timeout, and keeps a timed-out wait from
        # breaking an outer transaction; the lock itself belongs to the session and outlives it.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), pg_advisory_lock(%s)",
                [f"{round(timeout_seconds * 1000)}ms", key],
            )
    except OperationalError:  # lock_timeout: the holder did not let go in time
        return False
    return True


def one_at_a_time(
    name: str,
    *,
    work: Callable[[], None],
    pending: Callable[[], bool],
    max_seconds: float = 30.0,
    min_gap_seconds: float = 0.0,
    later: Callable[[float], bool] | None = None,
) -> bool:
    """Run `work` unless another process is running it, and again while `pending()` says something
    arrived meanwhile. Returns whether this call did the work.

    A caller that finds the lock held returns at once: the holder checks `pending()` after each run
    and once more after releasing the lock, so whatever the caller wanted done is done by the holder
    or, if the holder had just let go, by the caller on its next turn of the loop. A holder lets go
    after `max_seconds` of runs even if more keeps arriving, so that a steady stream of requests
    never keeps the lock from a process waiting for it (the next request, or beat, goes on).

    Runs of this process start at least `min_gap_seconds` apart, so that under a steady stream one
    run takes in everything that arrived during the gap: a run due sooner is handed to
    `later(seconds)` (a task queued with that delay) and the lock let go, nothing waits. If `later`
    cannot take it (no broker) or is not given, the run starts at once.
    """
    did_work = False
    started = time.monotonic()

    def run() -> bool:
        """Run the work now, or hand it to `later`: whether it ran."""
        wait = _last_runs.get(name, float("-inf")) + min_gap_seconds - time.monotonic()
        if wait > _GAP_SLACK_SECONDS and later is not None and later(wait):
            return False
        _last_runs[name] = time.monotonic()
        work()
        return True

    while True:
        with lock_held(name) as held:
            if not held:
                return did_work
            if not run():
                return did_work
            did_work = True
            while pending():
                if time.monotonic() - started > max_seconds or not run():
                    return did_work
        if not pending() or time.monotonic() - started > max_seconds:
            return did_work
