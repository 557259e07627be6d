"""Another process holding one of the arena's advisory locks: a second PostgreSQL session."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from django.db import connection

from arena.locks import _key


def _session() -> "psycopg2.extensions.connection":
    session = psycopg2.connect(**connection.get_connection_params())
    session.autocommit = True
    return session


@contextmanager
def another_session_holds(name: str) -> Iterator["psycopg2.extensions.connection"]:
    session = _session()
    try:
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_key(name)])
        yield session
        # Released before the session closes: a closed session's backend lets go a moment later.
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_key(name)])
    finally:
        session.close()


def sessions_waiting_for(session: "psycopg2.extensions.connection", name: str) -> int:
    """How many sessions wait to take the named lock (seen through any session)."""
    key = _key(name) & 0xFFFFFFFFFFFFFFFF
    with session.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            [key >> 32, key & 0xFFFFFFFF],
        )
        return int(cursor.fetchone()[0])
