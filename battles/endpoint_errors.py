"""What an OpenAI-compatible server says when it fails, without any network code: which HTTP
statuses are worth another try, the readable message of an error body in any server's shape, and
errors reported inside a 200 response (a stream event or a JSON body), classified like their HTTP
equivalents.
"""

import json
import re
from typing import Any

ERROR_DETAIL_MAX_CHARS = 300

# HTTP statuses worth another try. 424 is TGI's status for a failure during generation (a shard
# error, out of memory), which is not the client's fault.
RETRYABLE_STATUS_CODES = frozenset({408, 424, 425, 429})

# Words in an in-band error's type or code that say the server, not the request, is at fault.
# "generation" is TGI's error_type for failures while generating (see RETRYABLE_STATUS_CODES).
_RETRYABLE_ERROR_WORDS = re.compile(
    r"overload|server|unavailable|timeout|rate_?limit|limit_requests|throttl|busy|generation"
)


class BodyError(Exception):
    """The body of a response is not a usable chat completion, or reports an error in-band.

    The message is a predicate that reads after the URL: "<url> sent a body that is not JSON".
    """

    def __init__(
        self,
        message: str,
        *,
        is_retryable: bool = False,
        status_code: int | None = None,
        is_in_band: bool = False,
    ) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable
        self.status_code = status_code
        self.is_in_band = is_in_band  # reported inside a 200 response (a stream event, a JSON body)


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS_CODES or status_code >= 500


def shorten(text: str, limit: int = ERROR_DETAIL_MAX_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def error_message(payload: Any) -> str | None:
    """The human-readable message of an error body, in any of the servers' shapes, or None.

    OpenAI, llama.cpp, Ollama, DeepSeek, DashScope and newer vLLM: {"error": {"message": …}};
    older vLLM: {"object": "error", "message": …}; TGI: {"error": "…", "error_type": …};
    FastAPI-based servers: {"detail": "…"} or {"detail": [{"msg": …}, …]}.
    """
    if isinstance(payload, str):
        return payload or None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        found = error_message(error)
        if found:
            return found
    if isinstance(error, str) and error:
        return error
    for key in ("message", "msg"):
        if isinstance(payload.get(key), str) and payload[key]:
            return str(payload[key])
    detail = payload.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list):
        messages = [str(item.get("msg")) for item in detail if isinstance(item, dict) and item.get("msg")]
        return "; ".join(messages) or None
    return None


def error_detail(body: bytes) -> str:
    """A short readable message from an error response body (JSON of any known shape, or text)."""
    text = body.decode("utf-8", errors="replace")
    try:
        message = error_message(json.loads(text))
    except ValueError:
        message = None
    return shorten(message or text) or "(empty body)"


def in_band_error(payload: Any) -> BodyError:
    """An error reported inside a 200 response: a stream event or a JSON body with an `error`."""
    error = payload.get("error") if isinstance(payload, dict) else None
    fields = error if isinstance(error, dict) else payload if isinstance(payload, dict) else {}
    kinds = [str(fields.get(key, "")) for key in ("type", "code", "status")]
    if isinstance(payload, dict):
        kinds.append(str(payload.get("error_type", "")))  # TGI
    words = " ".join(kinds).lower()
    status_code = None
    for key in ("code", "status", "status_code"):
        value = fields.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            status_code = value
        elif isinstance(value, str) and value.isascii() and value.isdigit() and 100 <= int(value) <= 599:
            status_code = int(value)
        if status_code is not None:
            break
    is_retryable = (status_code is not None and is_retryable_status(status_code)) or bool(
        _RETRYABLE_ERROR_WORDS.search(words)
    )
    message = shorten(error_message(payload) or json.dumps(payload, ensure_ascii=False))
    return BodyError(
        f"reported an error: {message}", is_retryable=is_retryable, status_code=status_code, is_in_band=True
    )
