"""The HTTP client of endpoint calls: one small httpx client per thread, every socket operation
bounded by the call's total deadline, and the connections of calls in flight closed at once when the
worker stops (calls_abort, from arena/celery.py). battles/endpoints.py makes the calls with it.
"""

import contextvars
import logging
import os
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

logger = logging.getLogger(__name__)

USER_AGENT = "arena-endpoint-client/1"
CLIENT_MAX_CONNECTIONS = 8
CLIENT_MAX_KEEPALIVE_CONNECTIONS = 4
CLIENT_KEEPALIVE_EXPIRY_SECONDS = 30.0

# The monotonic deadline of the call running in this thread (or greenlet, or task).
call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "endpointcall_deadline", default=None
)


def _bounded(timeout: float | None, exception: type[Exception]) -> float | None:
    """The timeout for one socket operation: httpx's, shortened to what is left of the deadline.

    httpx applies its read timeout to each read, so a server sending one byte a second (even
    in its status line) would never time out; this makes the deadline hold for the whole call.
    """
    deadline = call_deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise exception("the total deadline of the call has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        # TLS takes the socket over: the TLS stream is the one calls_abort() must find.
        return _opened(_DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


# Calls given up on: a worker that shuts down closes the connections of its calls in flight, so that
# a server that notices a closed connection (llama.cpp, vLLM, TGI) stops generating for nobody, and
# the calls end at once (as retryable CancelledEndpointError) instead of holding up the shutdown.
_abort_reason = ""
_open_streams: "weakref.WeakSet[_DeadlineStream]" = weakref.WeakSet()
_open_streams_lock = threading.Lock()


def _opened(stream: _DeadlineStream) -> _DeadlineStream:
    with _open_streams_lock:
        _open_streams.add(stream)
    if _abort_reason:
        _shut(stream)  # opened while calls_abort() ran: closed like the others
    return stream


def _shut(stream: _DeadlineStream) -> bool:
    """Shut the stream's socket down (True), waking a thread blocked reading it; the server sees
    the connection close. For TLS the socket's own shutdown is called, not the TLS one: the TLS state
    belongs to the thread reading it."""
    sock = stream.get_extra_info("socket")
    if sock is None:
        return False
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        return False  # already closed
    return True


def calls_abort(reason: str) -> int:
    """End every endpoint call of this process now and refuse new ones; returns the connections closed."""
    global _abort_reason
    _abort_reason = reason
    with _open_streams_lock:
        open_now = list(_open_streams)
    closed = sum(_shut(stream) for stream in open_now)
    if closed:
        logger.warning("closed %s endpoint connection(s): %s", closed, reason)
    return closed


def calls_aborted() -> bool:
    return bool(_abort_reason)


def abort_reason() -> str:
    """Why calls are refused now (calls_abort's reason), or "" while they are allowed."""
    return _abort_reason


def calls_allow() -> None:
    """Allow calls again after calls_abort() (a worker that carries on, and tests)."""
    global _abort_reason
    _abort_reason = ""


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _opened(
            _DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _opened(_DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options)))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def new_client(
    *,
    max_connections: int = CLIENT_MAX_CONNECTIONS,
    max_keepalive_connections: int = CLIENT_MAX_KEEPALIVE_CONNECTIONS,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An httpx client for endpoint calls, with socket reads bounded by each call's deadline.

    Proxies from the environment (HTTPS_PROXY, NO_PROXY, ...) are honoured.
    """
    client = httpx.Client(
        verify=verify,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY_SECONDS,
        ),
        timeout=httpx.Timeout(120.0, connect=10.0),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )
    # httpx does not let a client choose httpcore's network backend, so it is swapped on each
    # transport's pool (httpx 0.28 / httpcore 1.0; tests/battles/test_endpoint_faults.py fails if
    # an upgrade moves it).
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if pool is not None and isinstance(backend, httpcore.NetworkBackend):
            if isinstance(backend, _DeadlineBackend):
                continue
            pool._network_backend = _DeadlineBackend(backend)
        elif transport is not None:
            logger.warning("endpoint client: cannot bound socket reads by the call deadline on %r", transport)
    return client


_thread_clients = threading.local()


def thread_client() -> httpx.Client:
    """This thread's client, created on first use (and again in a forked child).

    One client per thread rather than one shared: httpcore walks its whole connection pool on every
    request and every response close, so with a hundred calls in flight a shared pool spends more
    CPU on that walk than on the calls. A thread makes one call at a time; its small pool keeps the
    connections to the endpoints it talks to alive between calls.
    """
    client: httpx.Client | None = getattr(_thread_clients, "client", None)
    if client is None:
        client = new_client()
        _thread_clients.client = client
    return client


def _forget_thread_clients() -> None:
    # A forked worker must not share the parent's sockets (nor close them in calls_abort()).
    global _thread_clients, _open_streams, _open_streams_lock
    _thread_clients = threading.local()
    _open_streams = weakref.WeakSet()
    _open_streams_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_thread_clients)
