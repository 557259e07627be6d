"""The only code that talks to model endpoints: OpenAI-compatible chat completions over httpx.

Every call has a total deadline (`timeout_seconds`, the whole call including a body that drips one
byte a second), a connect timeout, a cap on the answer and a cap on a non-streaming body. A failure
is raised as RetryableEndpointError (worth trying again later: the network, a timeout, rate
limiting, a server error, a stream cut off) or PermanentEndpointError (trying again would fail the
same way: a bad request, a bad key, a body that is not a chat completion). Nothing else in the
project catches httpx errors. Parsing the bodies lives in battles/endpoint_streams.py, the HTTP
client (per-thread clients, deadlines, closing calls at shutdown) in battles/endpoint_client.py.

Secrets: the API key and extra header values never appear in an exception message or a log line;
error bodies that echo them are redacted, and URLs are shown without credentials or query string.
"""

import email.utils
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpcore
import httpx

from battles import endpoint_streams as streams
from battles.endpoint_client import abort_reason, call_deadline, thread_client
from battles.endpoint_errors import BodyError, error_detail, is_retryable_status, shorten

logger = logging.getLogger(__name__)

ERROR_BODY_MAX_BYTES = 64 * 1024
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
_JSON_CONTENT_TYPES = frozenset({"application/json", "text/json", "text/plain", ""})


class EndpointError(Exception):
    """A call to a model endpoint failed."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        is_in_band: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        # Reported inside a 200 response (a stream event or a JSON body), after the server began to
        # answer: what the model generated may be the cause, so the same seed may fail the same way.
        self.is_in_band = is_in_band


class RetryableEndpointError(EndpointError):
    """Worth trying again later: connect errors, timeouts, 408/424/425/429, 5xx, a cut stream."""


class PermanentEndpointError(EndpointError):
    """Would fail the same way again: other 4xx, malformed bodies, a body over its cap."""


class CancelledEndpointError(RetryableEndpointError):
    """The call was given up on our side (the worker is shutting down): nothing to do with the endpoint."""


@dataclass(frozen=True)
class ChatRequest:
    base_url: str  # e.g. http://127.0.0.1:8000/v1, with or without a trailing slash
    model_id: str
    messages: list[dict[str, str]]
    # Sampling and other body fields sent as given (temperature, top_p, max_tokens, seed, stop, ...).
    parameters: dict[str, Any] = field(default_factory=dict)
    api_key: str = ""  # sent as Authorization: Bearer
    headers: dict[str, str] = field(default_factory=dict)  # extra headers, sent as given
    stream: bool = True
    stream_usage: bool = True  # with stream: ask for a usage chunk (stream_options.include_usage)
    timeout_seconds: float = 120.0  # total deadline for the whole call
    connect_timeout_seconds: float = 10.0
    max_answer_chars: int = 32_000  # longer answers are cut here and flagged truncated
    max_response_bytes: int = 8 * 1024 * 1024  # a non-streaming body over this is refused
    max_reasoning_chars: int = 128_000  # reasoning kept beyond this is cut (it is not shown to voters)

    @property
    def url(self) -> str:
        base, separator, query = self.base_url.partition("?")  # e.g. Azure's ?api-version=…
        return base.rstrip("/") + "/chat/completions" + separator + query

    def body(self) -> dict[str, Any]:
        """The exact JSON body sent; it is recorded with the answer."""
        body = {**self.parameters, "model": self.model_id, "messages": self.messages, "stream": self.stream}
        if self.stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def http_headers(self) -> dict[str, str]:
        headers = {
            "Accept": "text/event-stream, application/json" if self.stream else "application/json",
            "Content-Type": "application/json",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {**headers, **self.headers}


@dataclass(frozen=True)
class ChatCompletion:
    text: str  # the answer voters see: reasoning removed, stripped, capped
    reasoning: str  # from reasoning_content / reasoning, or a <think>…</think> block; "" if none
    latency_ms: int  # request start → body fully read
    first_token_ms: int | None  # request start → first content or reasoning token (streaming only)
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    truncated: bool  # the answer cap was hit
    status_code: int
    reasoning_truncated: bool = False  # the reasoning cap was hit
    # What the server says it spent, where it says so (llama.cpp `timings`; TGI's x-queue-time and
    # x-inference-time headers): latency_ms and first_token_ms also hold the network and its queue.
    server_queue_ms: float | None = None
    server_prompt_ms: float | None = None
    server_generation_ms: float | None = None


def chat_completion(request: ChatRequest, *, client: httpx.Client | None = None) -> ChatCompletion:
    """Send one chat completion request and return the answer, or raise an EndpointError.

    With client=None this thread's client is used (endpoint_client.thread_client()). A client of
    your own should come from endpoint_client.new_client(): it bounds every socket read by the
    call's total deadline, where a plain httpx.Client bounds each read separately (the deadline is
    still checked between chunks).
    """
    call = _Call(request)
    http = client if client is not None else thread_client()
    _raise_if_aborted(call)
    token = call_deadline.set(call.deadline)
    try:
        completion = _chat_completion(call, http)
    except EndpointError:
        # A connection closed by calls_abort() ends its read early: whatever that looked like, say why.
        _raise_if_aborted(call)
        raise
    finally:
        call_deadline.reset(token)
    return completion


def _raise_if_aborted(call: "_Call") -> None:
    reason = abort_reason()
    if reason:
        raise CancelledEndpointError(f"the call to {call.shown_url} was cancelled: {reason}")


def _chat_completion(call: "_Call", http: httpx.Client) -> ChatCompletion:
    request = call.request
    try:
        with http.stream(
            "POST", request.url, content=call.content, headers=request.http_headers(), timeout=call.timeouts()
        ) as response:
            return call.read(response)
    except BodyError as error:
        error_class = RetryableEndpointError if error.is_retryable else PermanentEndpointError
        message = f"{call.shown_url} {call.redact(str(error))}"
        raise error_class(message, status_code=error.status_code, is_in_band=error.is_in_band) from None
    except httpx.TimeoutException as error:
        call.raise_timeout(type(error).__name__, error)
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as error:
        # The exception text may quote a header value, so only its name is shown.
        raise PermanentEndpointError(
            f"could not send a request to {call.shown_url}: {type(error).__name__}"
        ) from None
    except httpx.TransportError as error:
        if time.monotonic() >= call.deadline:
            call.raise_timeout(type(error).__name__, error)
        verb = "could not reach" if isinstance(error, httpx.ConnectError | httpx.ProxyError) else "lost"
        detail = call.redact(str(error)) or "(no detail)"
        raise RetryableEndpointError(
            f"{verb} {call.shown_url}: {type(error).__name__}: {shorten(detail)}"
        ) from error
    except httpx.HTTPError as error:  # content decoding errors, redirect loops
        raise PermanentEndpointError(
            f"{call.shown_url} sent a response that could not be read: {type(error).__name__}: "
            f"{shorten(call.redact(str(error)))}"
        ) from error


class _Call:
    """One chat completion call: its deadline, and reading its response within it."""

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self.shown_url = _shown_url(request)
        self._secrets = [value for value in (request.api_key, *request.headers.values()) if len(value) >= 4]
        _check_headers(request)
        try:
            self.content = json.dumps(request.body(), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            raise PermanentEndpointError(
                f"the request body for {request.model_id} cannot be sent as JSON: {error}"
            ) from None
        self.started = time.monotonic()
        self.deadline = self.started + request.timeout_seconds

    def timeouts(self) -> httpx.Timeout:
        total = self.request.timeout_seconds
        return httpx.Timeout(total, connect=min(self.request.connect_timeout_seconds, total))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def raise_timeout(self, what: str, cause: BaseException | None = None) -> NoReturn:
        elapsed = time.monotonic() - self.started
        raise RetryableEndpointError(
            f"timed out calling {self.shown_url} after {elapsed:.1f} s "
            f"(total deadline {self.request.timeout_seconds:g} s, "
            f"connect timeout {self.request.connect_timeout_seconds:g} s; {what})"
        ) from cause

    def chunks(self, response: httpx.Response) -> Iterator[bytes]:
        for chunk in response.iter_bytes():
            if time.monotonic() > self.deadline:
                self.raise_timeout("the body was still arriving")
            yield chunk

    def read(self, response: httpx.Response) -> ChatCompletion:
        status = response.status_code
        if status >= 300:
            self._raise_for_status(response)
        content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type == "text/event-stream":
            parts = self._read_event_stream(response)
        elif content_type in _JSON_CONTENT_TYPES or content_type.endswith("+json"):
            parts = streams.parse_completion(self._read_json(response))
        else:
            raise PermanentEndpointError(
                f"{self.shown_url} answered with content type {content_type!r}, not application/json "
                "or text/event-stream: is the base URL the root of an OpenAI-compatible API (…/v1)?",
                status_code=status,
            )
        latency_ms = _milliseconds(time.monotonic() - self.started)
        final = streams.finalize(
            parts,
            max_answer_chars=self.request.max_answer_chars,
            max_reasoning_chars=self.request.max_reasoning_chars,
        )
        first_token_at = parts.first_token_at
        server_generation_ms = parts.server_generation_ms
        if server_generation_ms is None:
            server_generation_ms = _header_milliseconds(response, "x-inference-time")  # TGI
        return ChatCompletion(
            text=final.text,
            reasoning=final.reasoning,
            latency_ms=latency_ms,
            first_token_ms=None if first_token_at is None else _milliseconds(first_token_at - self.started),
            prompt_tokens=parts.prompt_tokens,
            completion_tokens=parts.completion_tokens,
            finish_reason=parts.finish_reason,
            truncated=final.is_truncated,
            status_code=status,
            reasoning_truncated=final.is_reasoning_truncated,
            server_queue_ms=_header_milliseconds(response, "x-queue-time"),
            server_prompt_ms=parts.server_prompt_ms,
            server_generation_ms=server_generation_ms,
        )

    def _read_event_stream(self, response: httpx.Response) -> streams.AnswerParts:
        parser = streams.EventStreamParser(
            max_answer_chars=self.request.max_answer_chars,
            max_reasoning_chars=self.request.max_reasoning_chars,
            max_line_chars=self.request.max_response_bytes,
        )
        for chunk in self.chunks(response):
            parser.feed(chunk)
            if not parser.wants_more:
                break  # [DONE], or the answer cap: leaving the block closes the connection
        return parser.finish()

    def _read_json(self, response: httpx.Response) -> Any:
        cap = self.request.max_response_bytes
        too_large = PermanentEndpointError(
            f"{self.shown_url} sent a body larger than the cap of {cap} bytes "
            "(max_response_bytes); stopped reading it",
            status_code=response.status_code,
        )
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > cap:
            raise too_large
        body, is_over_cap = self._read_capped(response, cap)
        if is_over_cap:
            raise too_large
        try:
            # Bytes that are not UTF-8 become U+FFFD, as in a stream: the answer is kept, repaired.
            return json.loads(body.decode("utf-8", errors="replace"))
        except ValueError:
            raise BodyError(
                f"sent a body that is not JSON: {shorten(body.decode('utf-8', 'replace'), 80)}"
            ) from None

    def _read_capped(self, response: httpx.Response, cap: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        for chunk in self.chunks(response):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return b"".join(chunks)[:cap], True
        return b"".join(chunks), False

    def _raise_for_status(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        body, _ = self._read_capped(response, ERROR_BODY_MAX_BYTES)
        detail = self.redact(error_detail(body))
        message = f"HTTP {status} from {self.shown_url}: {detail}"
        if status < 400:
            location = _strip_url(response.headers.get("location", "")) or "(no Location header)"
            message += f" (redirected to {location}; set the base URL to the final address)"
        retry_after_seconds = parse_retry_after(
            response.headers.get("retry-after"), milliseconds=response.headers.get("retry-after-ms")
        )
        error_class = RetryableEndpointError if is_retryable_status(status) else PermanentEndpointError
        raise error_class(message, status_code=status, retry_after_seconds=retry_after_seconds)


def parse_retry_after(
    value: str | None, *, milliseconds: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), or None.

    `milliseconds` is the non-standard `retry-after-ms` header some APIs send alongside it.
    The result is clamped to [0, 24 h].
    """
    seconds: float | None = None
    if milliseconds:
        try:
            seconds = float(milliseconds) / 1000
        except ValueError:
            seconds = None
    if seconds is None and value:
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _check_headers(request: ChatRequest) -> None:
    """Refuse headers httpx cannot send, naming the header but never showing its value."""
    for name, value in request.http_headers().items():
        if _is_sendable(name, value):
            continue
        what = f"the header {name!r}"
        if request.api_key and value == f"Bearer {request.api_key}":
            what = "the API key"
        raise PermanentEndpointError(
            f"{what} of {request.model_id} cannot be sent: it has a line break, surrounding whitespace or "
            "a character outside ASCII (a trailing newline in the environment variable?)"
        )


def _is_sendable(name: str, value: str) -> bool:
    return (
        bool(name)
        and name.isascii()
        and value.isascii()
        and value.strip() == value
        and not any(character in name for character in " \t\r\n\0:")
        and not any(character in value for character in "\r\n\0")
    )


def _header_milliseconds(response: httpx.Response, name: str) -> float | None:
    """A timing header in whole milliseconds (as TGI writes them), or None."""
    value = response.headers.get(name, "").strip()
    if not value or len(value) > 12:
        return None
    try:
        milliseconds = float(value)
    except ValueError:
        return None
    return milliseconds if math.isfinite(milliseconds) and milliseconds >= 0 else None


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _strip_url(url: str) -> str:
    """A URL without credentials or query string (either may hold a key)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "(an invalid URL)"
    if not parsed.host:
        return parsed.path
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def _shown_url(request: ChatRequest) -> str:
    url = request.url
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise PermanentEndpointError(f"the base URL of {request.model_id} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise PermanentEndpointError(
            f"the base URL of {request.model_id} must start with http:// or https:// and name a host"
        )
    return _strip_url(url)


# ---------------------------------------------------------------------------------------------
# What a server says about itself

PROPS_MAX_BYTES = 1024 * 1024
MAX_SERVER_SLOTS = 4096


def server_slots(request: ChatRequest, *, timeout_seconds: float = 5.0) -> int | None:
    """How many requests the server runs at once, where it says: llama.cpp's `GET /props`
    (`total_slots`, its --parallel). None for servers that do not say, or on any failure."""
    base = request.base_url.partition("?")[0].rstrip("/")
    url = base.removesuffix("/v1") + "/props"
    headers = {name: value for name, value in request.http_headers().items() if name != "Content-Type"}
    headers["Accept"] = "application/json"
    token = call_deadline.set(time.monotonic() + timeout_seconds)
    try:
        with thread_client().stream(
            "GET", url, headers=headers, timeout=httpx.Timeout(timeout_seconds)
        ) as response:
            if response.status_code != 200:
                return None
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > PROPS_MAX_BYTES:
                    return None
    except (httpx.HTTPError, httpcore.TimeoutException):
        return None
    finally:
        call_deadline.reset(token)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    slots = payload.get("total_slots") if isinstance(payload, dict) else None
    if isinstance(slots, int) and not isinstance(slots, bool) and 1 <= slots <= MAX_SERVER_SLOTS:
        return slots
    return None
