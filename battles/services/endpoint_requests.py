"""The request a contender's endpoint gets: its parameters, its secrets from the environment, and
a question (or a short test request)."""

import os
import re
from typing import Any

from django.conf import settings

from battles import endpoints
from battles.models import SECRET_VARIABLE_PATTERN, Contender, Question

_ENVIRONMENT_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def contender_request_parameters(*, contender: Contender, seed: int | None = None) -> dict[str, Any]:
    """The body fields a contender's requests carry besides model and messages."""
    parameters: dict[str, Any] = dict(contender.extra_parameters or {})
    for name in ("temperature", "top_p", "max_tokens"):
        value = getattr(contender, name)
        if value is not None:
            parameters[name] = value
    if contender.stop:
        parameters["stop"] = list(contender.stop)
    if seed is not None:
        parameters["seed"] = seed
    return parameters


def _from_environment(name: str, purpose: str) -> str:
    if not re.fullmatch(SECRET_VARIABLE_PATTERN, name):
        raise endpoints.PermanentEndpointError(
            f"{purpose} names the variable {name}; only names ending in _API_KEY or _TOKEN are sent"
        )
    value = os.environ.get(name, "")
    if not value:
        raise endpoints.PermanentEndpointError(f"the environment variable {name} ({purpose}) is not set")
    return value


def _expand_environment(value: str, purpose: str) -> str:
    """Replace each ${NAME} in a header value with that environment variable."""
    return _ENVIRONMENT_REFERENCE.sub(lambda match: _from_environment(match.group(1), purpose), value)


def chat_request_build(
    *,
    contender: Contender,
    question: Question | None = None,
    seed: int | None = None,
    probe: bool = False,
    messages: list[dict[str, str]] | None = None,
) -> endpoints.ChatRequest:
    """The request a contender's endpoint gets for a question (or a tiny probe request); `messages`,
    when given, replace the contender's system prompt and the question (a judge's prompt)."""
    if messages is None:
        messages = []
        if contender.system_prompt and not probe:
            messages.append({"role": "system", "content": contender.system_prompt})
        messages.append({"role": "user", "content": "Hi" if probe or question is None else question.text})
    api_key = (
        _from_environment(contender.api_key_env, f"API key of {contender.name}")
        if contender.api_key_env
        else ""
    )
    headers = {
        name: _expand_environment(str(value), f"header {name} of {contender.name}")
        for name, value in (contender.extra_headers or {}).items()
    }
    timeout_seconds = contender.request_timeout_seconds or settings.ARENA_ENDPOINT_TIMEOUT_SECONDS
    parameters = contender_request_parameters(contender=contender, seed=seed)
    if probe:
        parameters = {"max_tokens": 8}
        timeout_seconds = min(timeout_seconds, 30.0)
    return endpoints.ChatRequest(
        base_url=contender.base_url,
        model_id=contender.model_id,
        messages=messages,
        parameters=parameters,
        api_key=api_key,
        headers=headers,
        stream=contender.stream and not probe,
        stream_usage=contender.stream_usage,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=min(settings.ARENA_ENDPOINT_CONNECT_TIMEOUT_SECONDS, timeout_seconds),
        max_answer_chars=settings.ARENA_ANSWER_MAX_CHARS,
        max_response_bytes=settings.ARENA_ENDPOINT_MAX_RESPONSE_BYTES,
    )
