"""The endpoint client against a misbehaving server on real sockets (tests/fault_server.py)."""

import json
import threading
import time

import httpx
import pytest

from battles.endpoints import (
    ChatCompletion,
    ChatRequest,
    PermanentEndpointError,
    RetryableEndpointError,
    chat_completion,
)
from tests.fault_server import ANSWER_TEXT, fault_server, unused_port

MESSAGES = [{"role": "user", "content": "What is the answer?"}]


@pytest.fixture(scope="module")
def server():
    with fault_server() as running:
        yield running


def call(server, behaviour: str, **fields) -> ChatCompletion:
    request = ChatRequest(base_url=server.base_url, model_id=behaviour, messages=MESSAGES, **fields)
    return chat_completion(request)


def timed_failure(server, behaviour: str, error_class: type[Exception], **fields) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(error_class) as caught:
        call(server, behaviour, **fields)
    assert type(caught.value) is error_class
    return caught.value, time.monotonic() - started


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
    error, elapsed = timed_failure(server, "slow:3", RetryableEndpointError, timeout_seconds=1)

    assert str(error).startswith(f"timed out calling {server.base_url}/chat/completions after 1.")
    assert "total deadline 1 s" in str(error)
    assert 0.9 <= elapsed < 1.8


def test_slow_server_within_the_timeout_answers(server):
    completion = call(server, "slow:0.3", timeout_seconds=5)

    assert completion.text == ANSWER_TEXT
    assert completion.latency_ms >= 300


def test_status_500_is_retryable(server):
    before = server.request_count("status_500")

    error, _ = timed_failure(server, "status_500", RetryableEndpointError)

    assert str(error) == f"HTTP 500 from {server.base_url}/chat/completions: fault server: status 500"
    assert error.status_code == 500 and error.retry_after_seconds is None
    assert server.request_count("status_500") == before + 1  # the client itself never retries


def test_status_429_keeps_retry_after(server):
    error, _ = timed_failure(server, "status_429_retry_after", RetryableEndpointError)

    assert (
        str(error) == f"HTTP 429 from {server.base_url}/chat/completions: Rate limit reached, retry after 7 s"
    )
    assert error.status_code == 429 and error.retry_after_seconds == 7.0


def test_unknown_model_is_permanent(server):
    error, _ = timed_failure(server, "no-such-model", PermanentEndpointError)

    assert (
        str(error)
        == f"HTTP 404 from {server.base_url}/chat/completions: The model `no-such-model` does not exist."
    )
    assert error.status_code == 404


def test_malformed_json_is_permanent(server):
    error, _ = timed_failure(server, "malformed_json", PermanentEndpointError)

    assert str(error) == (
        f'{server.base_url}/chat/completions sent a body that is not JSON: {{"id": "chatcmpl-fault", '
        '"choices": [{"message": {"content": "cut he'
    )


def test_stream_cut_off_is_retryable(server):
    error, elapsed = timed_failure(server, "stream_cut", RetryableEndpointError)

    assert str(error) == (
        f"{server.base_url}/chat/completions sent a stream that was cut off before its end "
        "(no [DONE] and no finish_reason)"
    )
    assert elapsed < 1


def test_stream_cut_mid_chunk_is_retryable(server):
    error, elapsed = timed_failure(server, "stream_cut_chunked", RetryableEndpointError)

    assert str(error).startswith(f"lost {server.base_url}/chat/completions: RemoteProtocolError: ")
    assert elapsed < 1


def test_huge_body_stops_at_the_cap(server):
    error, elapsed = timed_failure(server, "huge_body", PermanentEndpointError, stream=False)

    assert str(error) == (
        f"{server.base_url}/chat/completions sent a body larger than the cap of 8388608 bytes "
        "(max_response_bytes); stopped reading it"
    )
    assert elapsed < 3


def test_huge_streamed_answer_is_truncated(server):
    completion = call(server, "huge_stream", max_answer_chars=32_000, max_reasoning_chars=10_000)

    assert completion.text == "y" * 32_000
    assert completion.truncated is True and completion.finish_reason is None
    assert completion.latency_ms < 3000


@pytest.mark.slow
def test_drip_fails_within_the_total_deadline(server):
    error, elapsed = timed_failure(server, "drip", RetryableEndpointError, timeout_seconds=2)

    assert str(error).startswith(f"timed out calling {server.base_url}/chat/completions after 2.")
    assert 1.9 <= elapsed < 3


@pytest.mark.slow
def test_drip_fails_within_the_deadline_with_a_plain_httpx_client(server):
    request = ChatRequest(base_url=server.base_url, model_id="drip", messages=MESSAGES, timeout_seconds=2)
    started = time.monotonic()
    with httpx.Client() as plain_client, pytest.raises(RetryableEndpointError, match=r"^timed out calling"):
        chat_completion(request, client=plain_client)

    assert time.monotonic() - started < 4  # checked between chunks, so at most a second late


@pytest.mark.slow
def test_drip_in_the_status_line_fails_within_the_total_deadline(server):
    # Every read returns a byte within the read timeout: only a whole-call deadline catches this.
    error, elapsed = timed_failure(server, "drip_headers", RetryableEndpointError, timeout_seconds=2)

    assert str(error).startswith(f"timed out calling {server.base_url}/chat/completions after 2.")
    assert 1.9 <= elapsed < 3


@pytest.mark.slow
def test_silence_after_the_first_chunk_fails_within_the_total_deadline(server):
    error, elapsed = timed_failure(server, "stall", RetryableEndpointError, timeout_seconds=2)

    assert str(error).startswith(f"timed out calling {server.base_url}/chat/completions after 2.")
    assert 1.9 <= elapsed < 3


def test_connection_refused_is_retryable():
    port = unused_port()
    request = ChatRequest(base_url=f"http://127.0.0.1:{port}/v1", model_id="ok", messages=MESSAGES)
    started = time.monotonic()

    with pytest.raises(RetryableEndpointError) as caught:
        chat_completion(request)

    assert str(caught.value).startswith(
        f"could not reach http://127.0.0.1:{port}/v1/chat/completions: ConnectError"
    )
    assert caught.value.status_code is None
    assert time.monotonic() - started < 1


def test_many_calls_run_at_once_from_many_threads(server):
    results: list[str] = []
    errors: list[Exception] = []

    def one() -> None:
        try:
            results.append(call(server, "slow:0.5").text)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(64)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == [ANSWER_TEXT] * 64
    assert time.monotonic() - started < 3  # 64 half-second answers overlapped, not queued


def test_fault_server_records_each_request(server):
    before = len(server.requests)

    call(server, "ok", headers={"X-Trace": "t-1"})

    received = server.requests[before:]
    assert [request.behaviour for request in received] == ["ok"]
    assert received[0].headers["X-Trace"] == "t-1"
    assert json.loads(json.dumps(received[0].body))["model"] == "ok"
