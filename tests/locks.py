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


@contextmanager
def rows_locked(table: str) -> Iterator["psycopg2.extensions.connection"]:
    """Another session holding every row of the table FOR UPDATE until the block ends."""
    session = _session()
    try:
        with session.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"SELECT 1 FROM {table} FOR UPDATE")  # noqa: S608 (a table name of ours)
        yield session
        with session.cursor() as cursor:
            cursor.execute("COMMIT")
    finally:
        session.close()


def rows_waited_for(session: "psycopg2.extensions.connection") -> int:
    """How many other sessions wait for a row or a transaction's lock (seen through any session)."""
    with session.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted "
            "AND locktype IN ('transactionid', 'tuple') AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])
