"""The endpoint client against recorded response shapes of each server kind, faked with respx."""

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx

from battles import endpoint_client, endpoints
from battles.endpoint_errors import BodyError
from battles.endpoint_streams import EventStreamParser, split_reasoning
from battles.endpoints import (
    ChatCompletion,
    ChatRequest,
    PermanentEndpointError,
    RetryableEndpointError,
    chat_completion,
    parse_retry_after,
)

FIXTURES = Path(__file__).parent / "fixtures" / "endpoints"
BASE_URL = "http://models.test/v1"
URL = f"{BASE_URL}/chat/completions"
MESSAGES = [{"role": "user", "content": "Hello?"}]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_response(name: str, status: int = 200, **headers: str) -> httpx.Response:
    content_type = "text/event-stream" if name.endswith(".sse") else "application/json"
    return httpx.Response(
        status, content=fixture_bytes(name), headers={"content-type": content_type, **headers}
    )


def make_request(**fields) -> ChatRequest:
    return ChatRequest(**{"base_url": BASE_URL, "model_id": "test-model", "messages": MESSAGES, **fields})


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def answer(router, response: httpx.Response, **fields) -> ChatCompletion:
    router.post(URL).mock(return_value=response)
    return chat_completion(make_request(**fields))


# (fixture, text, reasoning, prompt_tokens, completion_tokens, finish_reason)
PARSED = [
    ("openai_nonstream.json", "The capital of France is Paris.", "", 14, 8, "stop"),
    ("openai_stream.sse", "Hello! How can I help?", "", 9, 6, "stop"),
    (
        "vllm_nonstream_reasoning.json",
        "9.8 is greater than 9.11.",
        "Compare 9.11 and 9.8 as decimals: 9.80 > 9.11.",
        18,
        57,
        "stop",
    ),
    ("vllm_reasoning_field.json", "Paris.", "The capital of France is Paris.", 15, 25, "stop"),
    ("vllm_stream.sse", "Hello! 😊", "A greeting; answer briefly.", 12, 19, "stop"),
    ("llamacpp_nonstream.json", "Hello! How can I help you today?", "", 21, 10, "stop"),
    ("llamacpp_stream.sse", "Hi there", "", 11, 3, "stop"),
    # What a real llama-server sent: a NUL inside content (kept here; the generation service removes it
    # before saving), and an end of sequence as the first token, an empty answer.
    ("llamacpp_stream_nul.sse", "Rivers of\x00 China: the Yangtze.", "", 23, 8, "stop"),
    ("llamacpp_nonstream_nul.json", "Rivers of\x00 China: the Yangtze.", "", 23, 8, "stop"),
    ("llamacpp_empty_stop.sse", "", "", 23, 1, "stop"),
    ("llamacpp_empty_stop.json", "", "", 23, 1, "stop"),
    ("ollama_nonstream.json", "Hello! How are you today?", "", 30, 8, "stop"),
    ("ollama_reasoning.json", "2 + 2 = 4.", "Simple arithmetic: two plus two is four.", 17, 42, "stop"),
    ("ollama_stream.sse", "Hello there", "", 26, 3, "stop"),
    ("tgi_nonstream.json", "Deep learning is a subset of machine learning.", "", 32, 11, "stop"),
    ("tgi_stream.sse", "Deep learning.", "", 32, 3, "length"),
    (
        "deepseek_reasoner.json",
        "9.11 is smaller than 9.8.",
        "Compare 9.11 and 9.8: 9.8 = 9.80, and 9.80 > 9.11.",
        16,
        250,
        "stop",
    ),
    ("deepseek_reasoner_stream.sse", "Hello! 😊", "The user greets me.", 10, 128, "stop"),
    ("qwen_nonstream.json", "我是阿里云开发的一款超大规模语言模型，我叫通义千问。", "", 22, 17, "stop"),
    ("qwen_stream.sse", "我是通义千问。", "用户问我是谁。", 10, 36, "stop"),
    ("think_inline.json", "2 + 2 = 4.", "The user asks for 2+2. That is 4.", 11, 30, "stop"),
    ("think_closing_only.json", "2 + 2 = 4.", "The user asks for 2+2. That is 4.", 11, 30, "stop"),
    ("think_stream.sse", "**4**", "Hmm, 2+2=4.", None, None, "stop"),
]


@pytest.mark.parametrize(
    ("name", "text", "reasoning", "prompt_tokens", "completion_tokens", "finish"), PARSED
)
def test_each_server_shape_parses_to_exact_values(
    router, name, text, reasoning, prompt_tokens, completion_tokens, finish
):
    completion = answer(router, fixture_response(name))

    assert completion.text == text
    assert completion.reasoning == reasoning
    assert (completion.prompt_tokens, completion.completion_tokens) == (prompt_tokens, completion_tokens)
    assert completion.finish_reason == finish
    assert completion.status_code == 200
    assert completion.truncated is False and completion.reasoning_truncated is False
    assert completion.latency_ms >= 0
    if name.endswith(".sse") and text:
        assert (
            completion.first_token_ms is not None and 0 <= completion.first_token_ms <= completion.latency_ms
        )
    else:
        assert completion.first_token_ms is None  # no token, or no stream to time it


@pytest.mark.parametrize(
    ("name", "text", "reasoning", "prompt_tokens", "completion_tokens", "finish"),
    [row for row in PARSED if row[0].endswith(".sse")],
)
def test_streams_split_anywhere_and_with_crlf_parse_the_same(
    router, name, text, reasoning, prompt_tokens, completion_tokens, finish
):
    raw = fixture_bytes(name).replace(b"\n", b"\r\n")
    one_byte_chunks = (raw[index : index + 1] for index in range(len(raw)))
    response = httpx.Response(200, content=one_byte_chunks, headers={"content-type": "text/event-stream"})

    completion = answer(router, response)

    assert (completion.text, completion.reasoning, completion.finish_reason) == (text, reasoning, finish)
    assert (completion.prompt_tokens, completion.completion_tokens) == (prompt_tokens, completion_tokens)


@pytest.mark.parametrize(
    ("name", "status", "error_class", "detail"),
    [
        (
            "openai_error_401.json",
            401,
            PermanentEndpointError,
            "Incorrect API key provided: sk-proj-********************wxyz. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
        ),
        (
            "openai_error_429.json",
            429,
            RetryableEndpointError,
            "Rate limit reached for gpt-4o-mini in organization org-abc123 on requests per min (RPM): "
            "Limit 500, Used 500, Requested 1. Please try again in 120ms.",
        ),
        (
            "vllm_error_400.json",
            400,
            PermanentEndpointError,
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
            "(1000 in the messages, 4000 in the completion). Please reduce the length of the messages or "
            "completion.",
        ),
        ("vllm_error_404.json", 404, PermanentEndpointError, "The model `llama-3` does not exist."),
        ("llamacpp_error_503.json", 503, RetryableEndpointError, "Loading model"),
        (
            "ollama_error_404.json",
            404,
            PermanentEndpointError,
            'model "llama3.3" not found, try pulling it first',
        ),
        (
            "tgi_error_422.json",
            422,
            PermanentEndpointError,
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 "
            "`inputs` tokens and 200 `max_new_tokens`",
        ),
        ("tgi_error_429.json", 429, RetryableEndpointError, "Model is overloaded"),
        ("deepseek_error_402.json", 402, PermanentEndpointError, "Insufficient Balance"),
        (
            "qwen_error_400.json",
            400,
            PermanentEndpointError,
            "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 8192]",
        ),
        (
            "qwen_error_429.json",
            429,
            RetryableEndpointError,
            "Requests rate limit exceeded, please try again later.",
        ),
    ],
)
def test_error_bodies_of_each_server_become_a_readable_message(router, name, status, error_class, detail):
    router.post(URL).mock(return_value=fixture_response(name, status))

    with pytest.raises(error_class) as caught:
        chat_completion(make_request())

    assert str(caught.value) == f"HTTP {status} from {URL}: {detail}"
    assert type(caught.value) is error_class
    assert caught.value.status_code == status
    assert caught.value.retry_after_seconds is None


@pytest.mark.parametrize(
    ("name", "error_class", "status_code", "detail"),
    [
        (
            "openai_stream_error.sse",
            RetryableEndpointError,
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        ("vllm_stream_error.sse", RetryableEndpointError, 500, "Engine loop has died"),
        (
            "llamacpp_stream_error.sse",
            PermanentEndpointError,
            400,
            "the request exceeds the available context size, try increasing it",
        ),
        (
            # Newer llama-server builds: a data event holding the error, after content began.
            "llamacpp_stream_error_event.sse",
            RetryableEndpointError,
            500,
            "[json.exception.type_error.316] invalid UTF-8 byte at index 0: 0xE6",
        ),
        (
            "tgi_stream_error.sse",
            RetryableEndpointError,
            None,
            "Request failed during generation: Server error: CUDA out of memory. Tried to allocate 2.00 GiB",
        ),
    ],
)
def test_an_error_event_mid_stream_fails_the_call_even_when_done_follows(
    router, name, error_class, status_code, detail
):
    router.post(URL).mock(return_value=fixture_response(name))

    with pytest.raises(error_class) as caught:
        chat_completion(make_request())

    assert str(caught.value) == f"{URL} reported an error: {detail}"
    assert type(caught.value) is error_class
    assert caught.value.status_code == status_code
    assert caught.value.is_in_band is True  # the generation service retries these with a new seed


def test_an_http_error_status_is_not_in_band(router):
    router.post(URL).mock(return_value=fixture_response("vllm_error_400.json", 400))

    with pytest.raises(PermanentEndpointError) as caught:
        chat_completion(make_request())

    assert caught.value.is_in_band is False


@pytest.mark.parametrize(
    ("name", "prompt_ms", "generation_ms"),
    [
        ("llamacpp_stream_timings.sse", 2.6, 21.3),
        ("llamacpp_nonstream.json", 47.946, 87.1),
        ("openai_stream.sse", None, None),
    ],
)
def test_server_timings_are_kept_beside_the_client_latency(router, name, prompt_ms, generation_ms):
    completion = answer(router, fixture_response(name))

    assert (completion.server_prompt_ms, completion.server_generation_ms) == (prompt_ms, generation_ms)
    assert completion.server_queue_ms is None


def test_tgi_timing_headers_are_read_in_milliseconds(router):
    response = fixture_response("tgi_nonstream.json", **{"x-queue-time": "412", "x-inference-time": "96"})

    completion = answer(router, response)

    assert (completion.server_queue_ms, completion.server_prompt_ms, completion.server_generation_ms) == (
        412.0,
        None,
        96.0,
    )


def test_an_error_event_named_by_the_event_field_fails_the_call(router):
    stream = b'event: error\ndata: {"code": "invalid_model_error", "message": "Unsupported model"}\n\n'
    response = httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})

    with pytest.raises(PermanentEndpointError, match=r"reported an error: Unsupported model$"):
        answer(router, response)


def test_a_200_json_body_carrying_an_error_is_an_error(router):
    body = {"error": {"message": "upstream overloaded", "type": "overloaded_error", "code": None}}

    with pytest.raises(RetryableEndpointError, match=r"reported an error: upstream overloaded$"):
        answer(router, httpx.Response(200, json=body))


def test_body_is_exactly_the_parameters_model_messages_and_stream_flags(router):
    parameters = {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 256,
        "seed": 1234,
        "stop": ["</s>", "User:"],
        "chat_template_kwargs": {"enable_thinking": False},
    }
    route = router.post(URL).mock(return_value=fixture_response("openai_stream.sse"))
    request = make_request(parameters=parameters)

    chat_completion(request)

    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        **parameters,
        "model": "test-model",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert sent == request.body()
    assert make_request(stream=False).body() == {"model": "test-model", "messages": MESSAGES, "stream": False}
    assert make_request(stream_usage=False).body() == {
        "model": "test-model",
        "messages": MESSAGES,
        "stream": True,
    }
    # The request's own fields win over a parameter of the same name.
    assert make_request(parameters={"model": "other", "stream": False}).body()["stream"] is True


def test_headers_carry_the_key_and_the_extra_headers(router):
    route = router.post(URL).mock(return_value=fixture_response("openai_nonstream.json"))

    chat_completion(
        make_request(api_key="sk-test-secret", headers={"X-Team": "arena", "OpenAI-Organization": "org-1"})
    )

    headers = route.calls.last.request.headers
    assert headers["authorization"] == "Bearer sk-test-secret"
    assert headers["x-team"] == "arena" and headers["openai-organization"] == "org-1"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "text/event-stream, application/json"
    assert headers["user-agent"] == endpoint_client.USER_AGENT


def test_no_authorization_header_without_a_key(router):
    route = router.post(URL).mock(return_value=fixture_response("openai_nonstream.json"))

    chat_completion(make_request(stream=False))

    assert "authorization" not in route.calls.last.request.headers
    assert route.calls.last.request.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, PermanentEndpointError),
        (401, PermanentEndpointError),
        (403, PermanentEndpointError),
        (404, PermanentEndpointError),
        (409, PermanentEndpointError),
        (413, PermanentEndpointError),
        (422, PermanentEndpointError),
        (408, RetryableEndpointError),
        (424, RetryableEndpointError),
        (425, RetryableEndpointError),
        (429, RetryableEndpointError),
        (500, RetryableEndpointError),
        (502, RetryableEndpointError),
        (503, RetryableEndpointError),
        (504, RetryableEndpointError),
    ],
)
def test_each_status_is_classified(router, status, error_class):
    router.post(URL).mock(return_value=httpx.Response(status, text="upstream says no"))

    with pytest.raises(error_class) as caught:
        chat_completion(make_request())

    assert type(caught.value) is error_class
    assert caught.value.status_code == status
    assert str(caught.value) == f"HTTP {status} from {URL}: upstream says no"


def test_a_redirect_is_permanent_and_says_where_to(router):
    response = httpx.Response(301, headers={"location": "https://user:pw@models.test/api/v1?key=abc"})

    with pytest.raises(PermanentEndpointError) as caught:
        answer(router, response)

    assert str(caught.value) == (
        f"HTTP 301 from {URL}: (empty body) (redirected to https://models.test/api/v1; "
        "set the base URL to the final address)"
    )


def test_retry_after_seconds_is_kept_on_429(router):
    router.post(URL).mock(return_value=fixture_response("openai_error_429.json", 429, **{"retry-after": "7"}))

    with pytest.raises(RetryableEndpointError) as caught:
        chat_completion(make_request())

    assert caught.value.retry_after_seconds == 7.0


def test_retry_after_as_an_http_date_is_kept_on_503(router):
    later = datetime.now(UTC).replace(microsecond=0).timestamp() + 120
    http_date = datetime.fromtimestamp(later, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    router.post(URL).mock(
        return_value=httpx.Response(503, text="maintenance", headers={"retry-after": http_date})
    )

    before = datetime.now(UTC).timestamp()
    with pytest.raises(RetryableEndpointError) as caught:
        chat_completion(make_request())
    after = datetime.now(UTC).timestamp()

    # The seconds from the moment the header was read to the date: that moment lies between these two.
    assert later - after <= caught.value.retry_after_seconds <= later - before


def test_parse_retry_after():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("99999999") == endpoints.MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("7", milliseconds="1500") == 1.5


def test_a_long_answer_is_cut_at_the_cap_and_flagged(router):
    body = json.loads(fixture_bytes("openai_nonstream.json"))
    body["choices"][0]["message"]["content"] = "word " * 100

    completion = answer(router, httpx.Response(200, json=body), max_answer_chars=42)

    assert completion.text == ("word " * 100)[:42].rstrip()
    assert len(completion.text) == 42 and completion.truncated is True


def test_a_streamed_answer_stops_reading_at_the_cap(router):
    sent: list[int] = []

    def events():
        for index in range(1000):
            sent.append(index)
            chunk = {
                "choices": [
                    {"index": 0, "delta": {"content": f"<think>{index}</think>" if index == 0 else "abcd"}}
                ]
            }
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    response = httpx.Response(200, content=events(), headers={"content-type": "text/event-stream"})
    completion = answer(router, response, max_answer_chars=100)

    assert completion.text == "abcd" * 25
    assert completion.reasoning == "0"
    assert completion.truncated is True and completion.finish_reason is None
    assert len(sent) < 40  # it stopped reading soon after the answer passed 100 characters


def test_reasoning_over_its_cap_is_cut_and_flagged(router):
    body = json.loads(fixture_bytes("deepseek_reasoner.json"))
    body["choices"][0]["message"]["reasoning_content"] = "r" * 50

    completion = answer(router, httpx.Response(200, json=body), max_reasoning_chars=20)

    assert completion.reasoning == "r" * 20
    assert completion.reasoning_truncated is True
    assert completion.text == "9.11 is smaller than 9.8." and completion.truncated is False


def test_a_json_answer_to_a_stream_request_is_read_as_a_whole(router):
    completion = answer(router, fixture_response("ollama_nonstream.json"), stream=True)

    assert completion.text == "Hello! How are you today?"
    assert completion.first_token_ms is None


def test_a_stream_ending_with_a_finish_reason_but_no_done_is_accepted(router):
    stream = fixture_bytes("ollama_stream.sse").replace(b"data: [DONE]\n\n", b"")

    completion = answer(
        router, httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    )

    assert (completion.text, completion.finish_reason, completion.completion_tokens) == (
        "Hello there",
        "stop",
        3,
    )


def test_a_stream_cut_before_its_end_is_retryable(router):
    lines = fixture_bytes("openai_stream.sse").split(b"\n\n")
    stream = b"\n\n".join(lines[:3]) + b"\n\n" + lines[3][:40]  # two deltas, then half a chunk

    with pytest.raises(RetryableEndpointError) as caught:
        answer(router, httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"}))

    assert str(caught.value) == (
        f"{URL} sent a stream that was cut off before its end (no [DONE] and no finish_reason)"
    )


def test_comments_ids_events_and_blank_lines_are_ignored(router):
    chunk = '{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}'
    stream = (
        f": keep-alive\nid: 1\nevent: message\nretry: 3000\n\n\ndata:{chunk}\n\n: done soon\ndata: [DONE]\n"
    )

    completion = answer(
        router, httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})
    )

    assert (completion.text, completion.finish_reason) == ("ok", "stop")


def test_a_chunk_split_over_several_data_lines_is_joined(router):
    stream = (
        'data: {"choices":[{"index":0,\ndata: "delta":{"content":"joined"},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\n\n"
    )

    completion = answer(
        router, httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})
    )

    assert completion.text == "joined"


def test_a_stream_without_chunks_is_permanent(router):
    response = httpx.Response(200, text="data: [DONE]\n\n", headers={"content-type": "text/event-stream"})

    with pytest.raises(PermanentEndpointError, match=r"sent a stream with no chat completion chunk in it$"):
        answer(router, response)


def test_a_stream_event_that_is_not_json_is_permanent(router):
    response = httpx.Response(200, text="data: hello\n\n", headers={"content-type": "text/event-stream"})

    with pytest.raises(PermanentEndpointError, match=r"sent a stream event that is not JSON: hello$"):
        answer(router, response)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(200, text="<html>oops</html>", headers={"content-type": "text/html"}),
            f"{URL} answered with content type 'text/html', not application/json or text/event-stream: "
            "is the base URL the root of an OpenAI-compatible API (…/v1)?",
        ),
        (
            httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
            f"{URL} sent a body that is not JSON: {{not json",
        ),
        (
            httpx.Response(200, json={"choices": []}),
            f"{URL} sent a body that is not a chat completion (no choices[0].message)",
        ),
        (
            httpx.Response(200, json={"object": "list", "data": []}),
            f"{URL} sent a body that is not a chat completion (no choices[0].message)",
        ),
        (
            httpx.Response(200, json={"choices": [{"message": {"content": 42}}]}),
            f"{URL} sent an answer that is not text (choices[0].message.content)",
        ),
    ],
)
def test_malformed_bodies_are_permanent(router, response, message):
    with pytest.raises(PermanentEndpointError) as caught:
        answer(router, response)

    assert str(caught.value) == message


def test_a_body_declared_over_the_cap_is_refused_before_reading(router):
    response = httpx.Response(200, content=b"{}" * 600, headers={"content-type": "application/json"})

    with pytest.raises(PermanentEndpointError) as caught:
        answer(router, response, max_response_bytes=1000)

    assert str(caught.value) == (
        f"{URL} sent a body larger than the cap of 1000 bytes (max_response_bytes); stopped reading it"
    )


def test_transport_errors_are_retryable(router):
    router.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(
        RetryableEndpointError, match=r"^could not reach http://models\.test/v1/chat/completions: "
    ):
        chat_completion(make_request())

    router.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(
        RetryableEndpointError, match=r"^timed out calling http://models\.test/v1/chat/completions"
    ):
        chat_completion(make_request())


def test_secrets_never_reach_the_message(router):
    base_url = "http://alice:hunter22@models.test/v1?api-key=q-secret"
    key, header_value = "sk-live-abcdef123456", "tenant-secret-987"
    echo = {"error": {"message": f"bad key {key} for tenant {header_value}"}}
    route = router.post(host="models.test", path="/v1/chat/completions").mock(
        return_value=httpx.Response(401, json=echo)
    )

    with pytest.raises(PermanentEndpointError) as caught:
        chat_completion(make_request(base_url=base_url, api_key=key, headers={"X-Tenant": header_value}))

    message = str(caught.value)
    assert route.calls.last.request.url.params["api-key"] == "q-secret"
    assert message == f"HTTP 401 from {URL}: bad key [redacted] for tenant [redacted]"
    for secret in (key, header_value, "hunter22", "q-secret"):
        assert secret not in message


@pytest.mark.parametrize(
    "base_url", ["models.test/v1", "ftp://models.test/v1", "http:///v1", "http://[::1/v1"]
)
def test_a_bad_base_url_is_permanent(base_url):
    with pytest.raises(PermanentEndpointError, match="base URL of test-model"):
        chat_completion(make_request(base_url=base_url))


def test_split_reasoning_forms():
    assert split_reasoning("<think>a</think>b") == ("b", "a")
    assert split_reasoning("\n <think>\na\n</think>\n\nb ") == ("b", "a")
    assert split_reasoning("a\n</think>\n\nb") == ("b", "a")
    assert split_reasoning("<think>still thinking when the tokens ran out") == (
        "",
        "still thinking when the tokens ran out",
    )
    assert split_reasoning("<think>\n\n</think>\n\nno reasoning") == ("no reasoning", "")
    assert split_reasoning("  plain answer  ") == ("plain answer", "")
    assert split_reasoning("Use <think> tags like <think>x</think> here") == (
        "Use <think> tags like <think>x</think> here",
        "",
    )


def test_llamacpp_timings_stand_in_for_missing_usage():
    parser = EventStreamParser(max_answer_chars=100, max_reasoning_chars=100, max_line_chars=10_000)
    parser.feed(b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],')
    parser.feed(b'"timings":{"prompt_n":7,"predicted_n":2}}\n\ndata: [DONE]\n\n')

    parts = parser.finish()

    assert (parts.content, parts.prompt_tokens, parts.completion_tokens) == ("hi", 7, 2)


def test_an_overlong_stream_line_is_permanent():
    parser = EventStreamParser(max_answer_chars=100, max_reasoning_chars=100, max_line_chars=1000)

    with pytest.raises(BodyError, match="sent an event-stream line longer than 1000 characters"):
        parser.feed(b"data: " + b"x" * 2000)


def test_each_thread_has_its_own_small_client_bounded_by_the_deadline():
    seen: list[object] = []  # the clients themselves, kept alive so their ids stay distinct

    def get() -> None:
        first = endpoint_client.thread_client()
        assert endpoint_client.thread_client() is first  # the same client for every call of a thread
        seen.append(first)

    threads = [threading.Thread(target=get) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    client = endpoint_client.thread_client()
    assert len({id(other) for other in seen} | {id(client)}) == 17
    pool = client._transport._pool
    assert (pool._max_connections, pool._max_keepalive_connections) == (8, 4)
    assert isinstance(pool._network_backend, endpoint_client._DeadlineBackend)


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"api_key": "sk-abc123\n"}, "the API key"),
        ({"api_key": "sk-ключ"}, "the API key"),
        ({"headers": {"X-Tenant": " padded-value "}}, "the header 'X-Tenant'"),
        ({"headers": {"Bad Name": "v"}}, "the header 'Bad Name'"),
    ],
)
def test_unsendable_headers_are_permanent_and_not_shown(router, fields, what):
    route = router.post(URL).mock(return_value=fixture_response("openai_nonstream.json"))

    with pytest.raises(PermanentEndpointError) as caught:
        chat_completion(make_request(**fields))

    assert str(caught.value) == (
        f"{what} of test-model cannot be sent: it has a line break, surrounding whitespace or a character "
        "outside ASCII (a trailing newline in the environment variable?)"
    )
    assert not route.called


def test_parameters_that_are_not_json_are_permanent(router):
    route = router.post(URL).mock(return_value=fixture_response("openai_nonstream.json"))

    with pytest.raises(PermanentEndpointError) as caught:
        chat_completion(make_request(parameters={"temperature": float("nan")}))

    assert str(caught.value) == (
        "the request body for test-model cannot be sent as JSON: "
        "Out of range float values are not JSON compliant"
    )
    assert not route.called
