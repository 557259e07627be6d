""" "At most one at a time, and once more if anything arrived meanwhile", without polling and without
Redis: PostgreSQL advisory locks, held by a database session, so a process that dies frees its
locks at once. (The embedded SQLite mode runs one worker process: a lock in the process does.)

    with lock_held("pool-refill") as held:     # try once: False if another process holds it
        ...
    with lock_held("ratings-refresh", wait=True):   # wait for the holder to finish (no polling)
        ...
    one_at_a_time("ratings-refresh", work=refresh, pending=votes_not_on_the_board)
"""

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

_local_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_NAMESPACE = "arena:"


def _key(name: str) -> int:
    """A stable signed 64-bit key for the lock's name."""
    digest = hashlib.sha256((_NAMESPACE + name).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def lock_held(name: str, *, wait: bool = False) -> Iterator[bool]:
    """Hold the named lock while the block runs. Yields whether it is held: with `wait`, always (after
    waiting for the holder); without, False at once if another process holds it."""
    if connection.vendor != "postgresql":
        local = _local_locks[name]
        held = local.acquire(blocking=wait)
        try:
            yield held
        finally:
            if held:
                local.release()
        return
    key = _key(name)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            held = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                # The session is gone (and its locks with it), or its transaction failed and cannot run
                # the unlock: closing the session is what releases the lock then.
                connection.close()


def one_at_a_time(name: str, *, work: Callable[[], None], pending: Callable[[], bool]) -> bool:
    """Run `work` unless another process is running it, and again while `pending()` says something
    arrived meanwhile. Returns whether this call did the work.

    A caller that finds the lock held returns at once: the holder checks `pending()` after each run
    and once more after releasing the lock, so whatever the caller wanted done is done by the holder
    or, if the holder had just let go, by the caller on its next turn of the loop.
    """
    did_work = False
    while True:
        with lock_held(name) as held:
            if not held:
                return did_work
            work()
            did_work = True
            while pending():
                work()
        if not pending():
            return did_work
