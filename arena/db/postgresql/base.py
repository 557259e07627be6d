"""Django's PostgreSQL backend, waiting a moment for the server when a connection is refused.

A PostgreSQL restart takes a second or two. Each new connection is retried with backoff for up to
DATABASE_CONNECT_WAIT_SECONDS, so a request that arrives during a restart is answered late instead
of failing; one that still cannot connect answers 503 (arena/availability.py). A connection that
breaks in the middle of a request is not retried here: its transaction is gone, and the request
answers 503 at once (retrying it is safe: a vote is counted once).
"""

import time
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg2 import OperationalError

_FIRST_DELAY_SECONDS = 0.1
_LONGEST_DELAY_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        deadline = time.monotonic() + settings.DATABASE_CONNECT_WAIT_SECONDS
        delay = _FIRST_DELAY_SECONDS
        while True:
            try:
                return super().get_new_connection(conn_params)
            except OperationalError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, _LONGEST_DELAY_SECONDS)
