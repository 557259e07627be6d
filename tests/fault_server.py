"""A misbehaving OpenAI-compatible endpoint on real sockets, for fault tests.

    with fault_server() as server:
        request = ChatRequest(base_url=server.base_url, model_id="status_500", messages=[...])
        ...
        assert server.request_count("status_500") == 1

The server also counts the requests in flight (and the most there were at once) and the requests whose
client went away before the server had finished answering them, so tests can assert what happened
(calls overlapped, a client gave up mid-body) instead of how long it took.

The behaviour of each request is chosen by its model id, "<behaviour>" or "<behaviour>:<argument>"
(e.g. "slow:3" sleeps 3 s), or for every model by `server.behaviour = "drip"`. Behaviours:

    ok                       200 JSON chat completion (whatever the request's stream flag)
    ok_stream                200 event stream: a few chunks, finish_reason, usage chunk, [DONE]
    slow[:seconds]           sleeps (default 5 s), then answers like ok
    slow_long[:seconds]      answers like ok at once when max_tokens is at most 16 (a short test
                             request), after <seconds> (default 5) otherwise: a server too slow for
                             real answers that still passes a short check
    gather:<count>           waits until <count> requests are in flight at once (at most 30 s), then
                             answers like ok
    status_<code>            that status with an OpenAI-style JSON error body, e.g. status_500
    status_429_retry_after   429 with Retry-After: 7
    malformed_json           200 application/json whose body is not JSON
    stream_cut               event stream: a few chunks, then the socket closes (no [DONE], no finish)
    stream_cut_chunked       the same with chunked transfer encoding, closed mid-body
    huge_body[:megabytes]    200 JSON chat completion of 10 MB (no Content-Length: read to find out)
    huge_stream[:megabytes]  event stream of a 10 MB answer, in 4 KB deltas
    drip                     200 JSON headers, then the body one byte a second, forever
    drip_headers             the status line and headers one byte a second, forever
    stall                    event-stream headers and one chunk, then silence, forever
    fixture:<file>           the bytes of tests/battles/fixtures/endpoints/<file>, as a real server sent
                             them (text/event-stream for .sse, application/json otherwise)
    llamacpp_by_seed         a llama-server whose answer depends on the request's seed, as a real one's
                             does: seed % 4 picks a NUL in the stream, an empty answer, an error event
                             mid-stream, or a clean answer (streamed or not, as asked)
    (anything else)          404 "model not found", like a server without that model

`GET /props` answers like llama-server's, with `server.total_slots` (404 while it is None).

"Forever" ends when the client goes away or the server stops. Connection refused is tested with a
port nobody listens on: see `unused_port()`.
"""

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ANSWER_TEXT = "The answer is 42."
FIXTURES = Path(__file__).parent / "battles" / "fixtures" / "endpoints"
# llamacpp_by_seed: what a seed makes the model send, streamed and whole: (fixture, HTTP status).
# Without streaming, the case that is an error event mid-stream is an HTTP 400, as llama-server does.
SEEDED_FIXTURES = [
    (("llamacpp_stream_nul.sse", 200), ("llamacpp_nonstream_nul.json", 200)),
    (("llamacpp_empty_stop.sse", 200), ("llamacpp_empty_stop.json", 200)),
    (("llamacpp_stream_error_event.sse", 200), ("llamacpp_error_400_utf8.json", 400)),
    (("llamacpp_stream_timings.sse", 200), ("llamacpp_nonstream.json", 200)),
]
STREAM_DELTAS = ["The ", "answer ", "is ", "42."]


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    behaviour: str
    received_at: float = field(default_factory=time.monotonic)


def unused_port() -> int:
    """A local TCP port with nothing listening on it (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def completion_body(content: str, *, model: str = "fault-model") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }


def json_reply(handler: BaseHTTPRequestHandler, payload: dict[str, Any], status: int = 200) -> None:
    """Answer a request with a JSON body and its length (for the small servers tests write)."""
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def chunk_event(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fault-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class FaultServer:
    def __init__(self, server: ThreadingHTTPServer, *, scheme: str = "http") -> None:
        self._server = server
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._changed = threading.Condition(self._lock)
        self._in_flight = 0
        self._peak_in_flight = 0
        self._client_gone: list[str] = []  # the behaviour of each request the client left mid-answer
        self.stopping = threading.Event()
        self.behaviour: str | None = None  # overrides the model id for every request when set
        self.total_slots: int | None = None  # what GET /props reports
        host, port = server.server_address[:2]
        self.origin = f"{scheme}://{host!s}:{port}"
        self.base_url = f"{self.origin}/v1"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def request_count(self, behaviour: str | None = None) -> int:
        """Requests received so far, of one behaviour (as named by the model id) or all."""
        return sum(1 for request in self.requests if behaviour is None or request.behaviour == behaviour)

    @property
    def in_flight(self) -> int:
        """Requests the server is working on now."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was working on at once."""
        with self._lock:
            return self._peak_in_flight

    def client_gone_count(self, behaviour: str | None = None) -> int:
        """Requests whose client closed the connection while the server was still sending the answer."""
        with self._lock:
            return sum(1 for gone in self._client_gone if behaviour is None or gone == behaviour)

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._changed.notify_all()

    def finished(self, behaviour: str, *, is_client_gone: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if is_client_gone:
                self._client_gone.append(behaviour)

    def wait_for_in_flight(self, count: int, timeout_seconds: float) -> bool:
        """Wait until `count` requests are in flight at once (True), or the time is up or the server stops."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._peak_in_flight >= count or self.stopping.is_set(), timeout=timeout_seconds
            )
            return self._peak_in_flight >= count

    def stop(self) -> None:
        """End every wait of the behaviours that hold a request open."""
        with self._changed:
            self.stopping.set()
            self._changed.notify_all()

    def wait(self, seconds: float) -> bool:
        """Sleep, ending early (True) when the server stops."""
        return self.stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        slots = self.server.fault.total_slots
        if self.path.rstrip("/") == "/props" and slots is not None:
            props = {"default_generation_settings": {"n_ctx": 4096}, "total_slots": slots}
            self._send_json(200, {**props, "model_path": "tiny-chatml.gguf", "build_info": "b7216-5d6688de"})
        else:
            self._error(404, "File Not Found", error_type="not_found_error")
        self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        fault = self.server.fault
        choice = fault.behaviour or str(self.body.get("model", ""))
        name, _, argument = choice.partition(":")
        fault.record(ReceivedRequest(self.path, dict(self.headers.items()), body, name))
        handler = getattr(self, f"_fault_{name}", None)
        is_client_gone = False
        try:
            if handler is not None:
                handler(argument)
            elif name.startswith("status_") and name[len("status_") :].isdigit():
                self._error(int(name[len("status_") :]), f"fault server: status {name[7:]}")
            else:
                self._error(404, f"The model `{choice}` does not exist.", error_type="NotFoundError")
        except OSError:  # a broken pipe, a reset, a TLS stream cut: the client went away
            is_client_gone = True  # the client gave up, as it should
        finally:
            fault.finished(name, is_client_gone=is_client_gone)
        self.close_connection = True

    # -- helpers

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "server_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": error_type, "param": None, "code": status}
        self._send_json(status, {"error": error}, headers)

    def _start_stream(self, *, chunked: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")  # the body ends when the socket closes
        self.end_headers()

    def _write_chunked(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _wait_forever(self) -> None:
        while not self.server.fault.wait(1.0):
            pass

    # -- behaviours

    def _fault_ok(self, argument: str) -> None:
        self._send_json(200, completion_body(ANSWER_TEXT))

    def _fault_ok_stream(self, argument: str) -> None:
        self._start_stream()
        self.wfile.write(chunk_event({"role": "assistant", "content": ""}))
        for text in STREAM_DELTAS:
            self.wfile.write(chunk_event({"content": text}))
            self.wfile.flush()
        self.wfile.write(chunk_event({}, "stop"))
        usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
        self.wfile.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")

    def _fault_slow(self, argument: str) -> None:
        if self.server.fault.wait(float(argument or 5)):
            return
        self._fault_ok(argument)

    def _fault_slow_long(self, argument: str) -> None:
        max_tokens = self.body.get("max_tokens")
        if isinstance(max_tokens, int) and max_tokens <= 16:
            self._fault_ok(argument)
        else:
            self._fault_slow(argument)

    def _fault_gather(self, argument: str) -> None:
        self.server.fault.wait_for_in_flight(int(argument), timeout_seconds=30)
        self._fault_ok(argument)

    def _fault_status_429_retry_after(self, argument: str) -> None:
        self._error(
            429, "Rate limit reached, retry after 7 s", error_type="rate_limit", headers={"Retry-After": "7"}
        )

    def _fault_malformed_json(self, argument: str) -> None:
        data = b'{"id": "chatcmpl-fault", "choices": [{"message": {"content": "cut he'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault_stream_cut(self, argument: str) -> None:
        self._start_stream()
        self.wfile.write(chunk_event({"role": "assistant", "content": ""}))
        for text in STREAM_DELTAS[:2]:
            self.wfile.write(chunk_event({"content": text}))
        self.wfile.flush()

    def _fault_stream_cut_chunked(self, argument: str) -> None:
        self._start_stream(chunked=True)
        for text in STREAM_DELTAS[:2]:
            self._write_chunked(chunk_event({"content": text}))
        # No terminating zero-length chunk: the connection closes mid-body.

    def _fault_huge_body(self, argument: str) -> None:
        block = b"x" * (256 * 1024)
        blocks = int(float(argument or 10) * 1024 * 1024) // len(block)
        # Written as it goes: a body far larger than the socket buffers is never held in memory.
        head, tail = json.dumps(completion_body("<content>")).encode().split(b"<content>")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(head)
        for _ in range(blocks):
            self.wfile.write(block)
        self.wfile.write(tail)

    def _fault_huge_stream(self, argument: str) -> None:
        size = int(float(argument or 10) * 1024 * 1024)
        self._start_stream()
        delta = "y" * 4096
        for _ in range(size // len(delta)):
            self.wfile.write(chunk_event({"content": delta}))
        self.wfile.write(chunk_event({}, "length"))
        self.wfile.write(b"data: [DONE]\n\n")

    def _fault_drip(self, argument: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        data = json.dumps(completion_body("drip " * 10_000)).encode()
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.fault.wait(1.0):
                return

    def _fault_drip_headers(self, argument: str) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Drip: " + b"z" * 10_000
        for byte in head:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.fault.wait(1.0):
                return

    def _fault_fixture(self, argument: str, status: int = 200) -> None:
        data = (FIXTURES / argument).read_bytes()
        self.send_response(status)
        self.send_header(
            "Content-Type", "text/event-stream" if argument.endswith(".sse") else "application/json"
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault_llamacpp_by_seed(self, argument: str) -> None:
        streamed, whole = SEEDED_FIXTURES[int(self.body.get("seed") or 0) % len(SEEDED_FIXTURES)]
        self._fault_fixture(*(streamed if self.body.get("stream") else whole))

    def _fault_stall(self, argument: str) -> None:
        self._start_stream()
        self.wfile.write(chunk_event({"role": "assistant", "content": "Thinking"}))
        self.wfile.flush()
        self._wait_forever()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512  # the default backlog of 5 resets connections when many calls start at once
    fault: FaultServer


@contextmanager
def fault_server(*, port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[FaultServer]:
    """A fault server on 127.0.0.1 and a free port (or `port`: a server started again where one was
    stopped), serving from a thread until the block ends; over HTTPS with a `tls` server context."""
    server = _Server(("127.0.0.1", port), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    fault = FaultServer(server, scheme="https" if tls is not None else "http")
    server.fault = fault
    # A short poll interval: the server stops at once when the block ends, not up to half a second later.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
    )
    thread.start()
    try:
        yield fault
    finally:
        fault.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
