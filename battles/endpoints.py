"""The only code that talks to model endpoints: OpenAI-compatible chat completions over httpx.

Every call has explicit timeouts. A failure is raised as RetryableEndpointError (worth trying again
later: the network, a timeout, rate limiting, a server error) or PermanentEndpointError (trying
again would fail the same way: a bad request, a bad key, a body that is not a chat completion).
Nothing else in the project catches httpx errors.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import httpx


class EndpointError(Exception):
    """A call to a model endpoint failed."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetryableEndpointError(EndpointError):
    pass


class PermanentEndpointError(EndpointError):
    pass


@dataclass(frozen=True)
class ChatRequest:
    base_url: str
    model_id: str
    messages: list[dict[str, str]]
    # Sampling and other body fields sent as given (temperature, top_p, max_tokens, seed, ...).
    parameters: dict[str, Any] = field(default_factory=dict)
    api_key: str = ""
    timeout_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def body(self) -> dict[str, Any]:
        return {**self.parameters, "model": self.model_id, "messages": self.messages, "stream": False}


@dataclass(frozen=True)
class ChatCompletion:
    text: str
    latency_ms: int
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def chat_completion(request: ChatRequest, *, client: httpx.Client | None = None) -> ChatCompletion:
    """Send one chat completion request and return the assistant's answer."""
    headers = {"Accept": "application/json"}
    if request.api_key:
        headers["Authorization"] = f"Bearer {request.api_key}"
    timeout = httpx.Timeout(request.timeout_seconds, connect=request.connect_timeout_seconds)
    started = time.monotonic()
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own_client:
                response = own_client.post(request.url, json=request.body(), headers=headers)
        else:
            response = client.post(request.url, json=request.body(), headers=headers, timeout=timeout)
    except httpx.TimeoutException as error:
        raise RetryableEndpointError(f"timed out calling {request.url}: {type(error).__name__}") from error
    except httpx.TransportError as error:
        raise RetryableEndpointError(f"could not reach {request.url}: {error}") from error
    latency_ms = round((time.monotonic() - started) * 1000)
    _raise_for_status(response)
    return _parse_completion(response, latency_ms)


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _error_detail(response)
    message = f"HTTP {status} from {response.request.url}: {detail}"
    if status == 429 or status >= 500 or status == 408:
        raise RetryableEndpointError(message, status_code=status)
    raise PermanentEndpointError(message, status_code=status)


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300] or "(empty body)"
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return response.text[:300]


def _parse_completion(response: httpx.Response, latency_ms: int) -> ChatCompletion:
    try:
        payload = response.json()
    except ValueError as error:
        raise PermanentEndpointError(f"the body from {response.request.url} is not JSON") from error
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as error:
        raise PermanentEndpointError(
            f"the body from {response.request.url} is not a chat completion (no choices[0].message.content)"
        ) from error
    if not isinstance(content, str):
        raise PermanentEndpointError(f"the answer from {response.request.url} is not text")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return ChatCompletion(
        text=content,
        latency_ms=latency_ms,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )
