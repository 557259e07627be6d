"""The Redis broker transport, with a fix for the worker crash on reconnection.

Celery 5.7 / kombu 5.7 (redis-py 8.1): when the broker connection drops, the worker first
`collect()`s the broken connection, which clears the transport's reference to its kombu
Connection, and then `close()`s it. Closing the default channel puts the unacknowledged messages
back in the queue through a new Redis client, built from that reference — now None — so it raises
`AttributeError: 'NoneType' object has no attribute 'hostname'` from `_connparams`. The worker
counts an AttributeError as unrecoverable and exits: every Redis restart used to stop it for good.

This channel remembers the Connection it was opened with and builds clients from it when the
transport has been cleared. Restoring then either works (the broker is back) or fails with a
Redis connection error, which the worker expects on a lost broker and recovers from. A message
that cannot be restored is not lost for Arena: every task is idempotent and re-created by beat
(the pool refill, the sweeper's re-queue of overdue answers, the periodic ratings refresh).

Selected by CELERY_BROKER_TRANSPORT in the settings whenever the broker is Redis.
"""

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, connection: Any, *args: Any, **kwargs: Any) -> None:
        # Before the parent's __init__, which may already connect.
        self._opened_with = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is not None and transport.client is None and self._opened_with is not None:
            # The worker collected the connection before closing it (see the module's docstring).
            transport.client = self._opened_with
        result: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return result


class Transport(kombu_redis.Transport):
    Channel = Channel
