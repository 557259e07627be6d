"""The endpoint client against a misbehaving server on real sockets (tests/fault_server.py).

No test here times the client: each asserts what happened instead, as the server saw it (the client
gave up while the server was still answering, the calls were in flight at once)."""

import json
import re
import ssl
import subprocess
import threading
from collections.abc import Callable

import httpx
import pytest

from battles import endpoint_client
from battles.endpoints import (
    CancelledEndpointError,
    ChatCompletion,
    ChatRequest,
    PermanentEndpointError,
    RetryableEndpointError,
    chat_completion,
)
from tests.fault_server import ANSWER_TEXT, FaultServer, fault_server, unused_port
from tests.workers import wait_until

MESSAGES = [{"role": "user", "content": "What is the answer?"}]


@pytest.fixture
def server():
    with fault_server() as running:
        yield running


def call(server, behaviour: str, **fields) -> ChatCompletion:
    request = ChatRequest(base_url=server.base_url, model_id=behaviour, messages=MESSAGES, **fields)
    return chat_completion(request)


def failure(make_call: Callable[[], ChatCompletion], error_class: type[Exception]) -> Exception:
    """The error a call raises. The call runs in a thread of its own and the test waits a minute at most,
    so a call that outlives its deadline fails the test instead of hanging it."""
    outcome: list[Exception | ChatCompletion] = []

    def run() -> None:
        try:
            outcome.append(make_call())
        except Exception as error:  # asserted by the caller
            outcome.append(error)

    threading.Thread(target=run, daemon=True).start()
    result = wait_until(lambda: outcome, timeout_seconds=60, message="the call is still running")[0]
    assert type(result) is error_class, result
    return result


def assert_timed_out(error: Exception, server: FaultServer, *, deadline_seconds: int) -> None:
    """The error is the client's own deadline, which it reports reaching."""
    pattern = (
        rf"timed out calling {re.escape(server.base_url)}/chat/completions after (\d+\.\d) s "
        rf"\(total deadline {deadline_seconds} s, connect timeout \d+ s; "
    )
    reported = re.match(pattern, str(error))
    assert reported is not None, str(error)
    assert float(reported.group(1)) >= deadline_seconds  # not before the deadline


def assert_client_left_mid_answer(server: FaultServer, behaviour: str) -> None:
    """The server was still sending when the client closed the connection: the client stopped reading."""
    wait_until(
        lambda: server.client_gone_count(behaviour) == 1,
        timeout_seconds=30,
        message=f"the client never left the {behaviour} answer",
    )


def test_ok_json(server):
    completion = call(server, "ok", api_key="sk-fault", parameters={"seed": 7, "temperature": 0.5})

    assert completion.text == ANSWER_TEXT
    assert (completion.prompt_tokens, completion.completion_tokens, completion.finish_reason) == (
        9,
        5,
        "stop",
    )
    assert completion.first_token_ms is None and completion.truncated is False
    received = server.requests[-1]
    assert received.path == "/v1/chat/completions"
    assert received.headers["Authorization"] == "Bearer sk-fault"
    assert received.body == {
        "seed": 7,
        "temperature": 0.5,
        "model": "ok",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_ok_stream(server):
    completion = call(server, "ok_stream")

    assert completion.text == ANSWER_TEXT
    assert (completion.prompt_tokens, completion.completion_tokens, completion.finish_reason) == (
        9,
        5,
        "stop",
    )
    assert completion.first_token_ms is not None and completion.first_token_ms <= completion.latency_ms


def test_slow_server_past_the_timeout_is_a_retryable_timeout(server):
    error = failure(lambda: call(server, "slow:60", timeout_seconds=1), RetryableEndpointError)

    assert_timed_out(error, server, deadline_seconds=1)
    assert server.in_flight == 1  # the server was still working on the answer when the client gave up


def test_slow_server_within_the_timeout_answers(server):
    completion = call(server, "slow:0.3", timeout_seconds=5)

    assert completion.text == ANSWER_TEXT
    assert completion.latency_ms >= 300  # the latency includes the server's 0.3 s of thinking


def test_status_500_is_retryable(server):
    error = failure(lambda: call(server, "status_500"), RetryableEndpointError)

    assert str(error) == f"HTTP 500 from {server.base_url}/chat/completions: fault server: status 500"
    assert error.status_code == 500 and error.retry_after_seconds is None
    assert server.request_count("status_500") == 1  # the client itself never retries


def test_status_429_keeps_retry_after(server):
    error = failure(lambda: call(server, "status_429_retry_after"), RetryableEndpointError)

    assert (
        str(error) == f"HTTP 429 from {server.base_url}/chat/completions: Rate limit reached, retry after 7 s"
    )
    assert error.status_code == 429 and error.retry_after_seconds == 7.0


def test_unknown_model_is_permanent(server):
    error = failure(lambda: call(server, "no-such-model"), PermanentEndpointError)

    assert (
        str(error)
        == f"HTTP 404 from {server.base_url}/chat/completions: The model `no-such-model` does not exist."
    )
    assert error.status_code == 404


def test_malformed_json_is_permanent(server):
    error = failure(lambda: call(server, "malformed_json"), PermanentEndpointError)

    assert str(error) == (
        f'{server.base_url}/chat/completions sent a body that is not JSON: {{"id": "chatcmpl-fault", '
        '"choices": [{"message": {"content": "cut he'
    )


def test_stream_cut_off_is_retryable(server):
    # Noticed when the socket closes, not at the deadline: the error says so, not "timed out".
    error = failure(lambda: call(server, "stream_cut"), RetryableEndpointError)

    assert str(error) == (
        f"{server.base_url}/chat/completions sent a stream that was cut off before its end "
        "(no [DONE] and no finish_reason)"
    )


def test_stream_cut_mid_chunk_is_retryable(server):
    error = failure(lambda: call(server, "stream_cut_chunked"), RetryableEndpointError)

    assert str(error).startswith(f"lost {server.base_url}/chat/completions: RemoteProtocolError: ")


def test_huge_body_stops_at_the_cap(server):
    # 64 MB: far more than the socket buffers of both ends can hold past the 8 MB cap.
    error = failure(lambda: call(server, "huge_body:64", stream=False), PermanentEndpointError)

    assert str(error) == (
        f"{server.base_url}/chat/completions sent a body larger than the cap of 8388608 bytes "
        "(max_response_bytes); stopped reading it"
    )
    assert_client_left_mid_answer(server, "huge_body")


def test_huge_streamed_answer_is_truncated(server):
    completion = call(server, "huge_stream:64", max_answer_chars=32_000, max_reasoning_chars=10_000)

    assert completion.text == "y" * 32_000
    assert completion.truncated is True and completion.finish_reason is None
    assert_client_left_mid_answer(server, "huge_stream")


@pytest.mark.slow
def test_drip_fails_within_the_total_deadline(server):
    error = failure(lambda: call(server, "drip", timeout_seconds=2), RetryableEndpointError)

    assert_timed_out(error, server, deadline_seconds=2)
    assert_client_left_mid_answer(server, "drip")


@pytest.mark.slow
def test_drip_fails_within_the_deadline_with_a_plain_httpx_client(server):
    request = ChatRequest(base_url=server.base_url, model_id="drip", messages=MESSAGES, timeout_seconds=2)

    def with_a_plain_client() -> ChatCompletion:
        with httpx.Client() as plain_client:
            return chat_completion(request, client=plain_client)

    # Each read gets a byte within httpx's own read timeout: the deadline is checked between chunks.
    error = failure(with_a_plain_client, RetryableEndpointError)

    assert_timed_out(error, server, deadline_seconds=2)
    assert_client_left_mid_answer(server, "drip")


@pytest.mark.slow
def test_drip_in_the_status_line_fails_within_the_total_deadline(server):
    # Every read returns a byte within the read timeout: only a whole-call deadline catches this.
    error = failure(lambda: call(server, "drip_headers", timeout_seconds=2), RetryableEndpointError)

    assert_timed_out(error, server, deadline_seconds=2)
    assert_client_left_mid_answer(server, "drip_headers")


@pytest.mark.slow
def test_silence_after_the_first_chunk_fails_within_the_total_deadline(server):
    error = failure(lambda: call(server, "stall", timeout_seconds=2), RetryableEndpointError)

    assert_timed_out(error, server, deadline_seconds=2)
    assert server.in_flight == 1  # the server still holds the stream open: the client left it


def test_connection_refused_is_retryable():
    port = unused_port()
    request = ChatRequest(base_url=f"http://127.0.0.1:{port}/v1", model_id="ok", messages=MESSAGES)

    with pytest.raises(RetryableEndpointError) as caught:
        chat_completion(request)

    assert str(caught.value).startswith(
        f"could not reach http://127.0.0.1:{port}/v1/chat/completions: ConnectError"
    )
    assert caught.value.status_code is None


def test_many_calls_run_at_once_from_many_threads(server):
    results: list[str] = []
    errors: list[Exception] = []

    def one() -> None:
        try:
            # The server holds every call until 64 are in flight at once (or 30 s have passed).
            results.append(call(server, "gather:64", timeout_seconds=90).text)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == [ANSWER_TEXT] * 64
    assert server.peak_in_flight == 64  # every call was open at the server at once: none queued


def test_fault_server_records_each_request(server):
    before = len(server.requests)

    call(server, "ok", headers={"X-Trace": "t-1"})

    received = server.requests[before:]
    assert [request.behaviour for request in received] == ["ok"]
    assert received[0].headers["X-Trace"] == "t-1"
    assert json.loads(json.dumps(received[0].body))["model"] == "ok"


def test_calls_abort_closes_calls_in_flight_so_the_server_stops_and_new_calls_are_refused(server):
    """A worker that shuts down gives up on its calls: each ends at once as a CancelledEndpointError,
    and the server sees its client leave (llama-server then stops generating for nobody)."""

    def abort_once_in_flight() -> None:
        wait_until(lambda: server.in_flight == 1, timeout_seconds=20, message="the call never started")
        endpoint_client.calls_abort("the worker is shutting down")

    aborter = threading.Thread(target=abort_once_in_flight, daemon=True)
    aborter.start()
    try:
        error = failure(lambda: call(server, "drip", timeout_seconds=120), CancelledEndpointError)
        aborter.join(timeout=5)
        assert str(error) == (
            f"the call to {server.base_url}/chat/completions was cancelled: the worker is shutting down"
        )
        with pytest.raises(CancelledEndpointError):
            call(server, "ok")
        assert server.request_count("ok") == 0  # refused before sending
    finally:
        endpoint_client.calls_allow()
    assert_client_left_mid_answer(server, "drip")  # the server found out at its next write
    assert call(server, "ok").text == ANSWER_TEXT  # allowed again


@pytest.fixture
def tls_contexts(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 made here, and a client context trusting it."""
    key, certificate = tmp_path / "key.pem", tmp_path / "certificate.pem"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
            *["-keyout", str(key), "-out", str(certificate), "-subj", "/CN=127.0.0.1"],
            *["-addext", "subjectAltName=IP:127.0.0.1"],
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    return server_context, ssl.create_default_context(cafile=str(certificate))


def test_calls_abort_closes_https_calls_too(tls_contexts):
    server_context, client_context = tls_contexts
    with fault_server(tls=server_context) as server:
        client = endpoint_client.new_client(verify=client_context)
        assert call_with(client, server, "ok").text == ANSWER_TEXT  # the certificate is trusted

        def abort_once_in_flight() -> None:
            wait_until(lambda: server.in_flight == 1, timeout_seconds=20, message="the call never started")
            endpoint_client.calls_abort("the worker is shutting down")

        threading.Thread(target=abort_once_in_flight, daemon=True).start()
        try:
            error = failure(
                lambda: call_with(client, server, "drip", timeout_seconds=120), CancelledEndpointError
            )
        finally:
            endpoint_client.calls_allow()
        assert str(error).endswith("was cancelled: the worker is shutting down")
        assert_client_left_mid_answer(server, "drip")


def call_with(client: httpx.Client, server, behaviour: str, **fields) -> ChatCompletion:
    request = ChatRequest(base_url=server.base_url, model_id=behaviour, messages=MESSAGES, **fields)
    return chat_completion(request, client=client)
