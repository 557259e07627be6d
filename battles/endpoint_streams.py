"""Reading what OpenAI-compatible servers send back, without any network code.

battles/endpoints.py feeds this module the bytes of a response; it returns the answer, the reasoning
kept apart from it, token counts and the finish reason, or raises BodyError (battles/endpoint_errors.py),
which endpoints.py turns into a retryable or permanent endpoint error carrying the URL.

Shapes handled (see tests/battles/fixtures/endpoints/): OpenAI, vLLM, llama.cpp server, Ollama /v1,
TGI's Messages API, DeepSeek and Qwen (DashScope compatible mode). Differences that matter:
- reasoning arrives as `reasoning_content` (DeepSeek, vLLM, DashScope), as `reasoning` (vLLM >= 0.9,
  Ollama, OpenRouter), or inline as `<think>…</think>` (R1-style models served without a reasoning
  parser), sometimes with only the closing tag because the prompt template opened it;
- TGI writes `data:{…}` without a space; llama.cpp reports a failure mid-stream as an `error:` field
  line and then still sends `data: [DONE]`; vLLM sends `data: {"error": …}` then `[DONE]`;
- usage arrives on a final chunk with `choices: []` (OpenAI, vLLM, Ollama, DashScope, TGI) or on the
  chunk carrying the finish reason (DeepSeek, llama.cpp, which also adds `timings`: the server's own
  prompt and generation times, kept beside the client's latency);
- llama.cpp reports an error found while generating (say, invalid UTF-8 from the model) as
  `data: {"error": {"code": 500, …}}` in newer builds and as an `error:` line in older ones.
"""

import codecs
import json
import time
from dataclasses import dataclass
from typing import Any

from battles.endpoint_errors import BodyError, in_band_error, shorten

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class AnswerParts:
    """What a response carried, before the answer is split from its reasoning and capped."""

    content: str
    reasoning: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    is_stopped_early: bool = False  # the answer cap was reached and reading stopped
    first_token_at: float | None = None  # time.monotonic() of the first content or reasoning token
    server_prompt_ms: float | None = None  # the server's own account (llama.cpp `timings`)
    server_generation_ms: float | None = None


@dataclass(frozen=True)
class FinalAnswer:
    text: str
    reasoning: str
    is_truncated: bool
    is_reasoning_truncated: bool


def split_reasoning(content: str) -> tuple[str, str]:
    """Split content into (answer, reasoning) when it carries a `<think>` block.

    `<think>…</think>answer` at the start; `…</think>answer` when the prompt template opened the
    block; an unterminated `<think>…` (the token limit hit while reasoning) is all reasoning.
    """
    stripped = content.lstrip()
    if stripped.startswith(THINK_OPEN):
        inner = stripped[len(THINK_OPEN) :]
        close = inner.find(THINK_CLOSE)
        if close == -1:
            return "", inner.strip()
        return inner[close + len(THINK_CLOSE) :].strip(), inner[:close].strip()
    close = content.find(THINK_CLOSE)
    if close != -1 and THINK_OPEN not in content[:close]:
        return content[close + len(THINK_CLOSE) :].strip(), content[:close].strip()
    return content.strip(), ""


def finalize(parts: AnswerParts, *, max_answer_chars: int, max_reasoning_chars: int) -> FinalAnswer:
    answer, inline_reasoning = split_reasoning(parts.content)
    reasoning = "\n\n".join(part for part in (parts.reasoning.strip(), inline_reasoning) if part)
    is_truncated = parts.is_stopped_early or len(answer) > max_answer_chars
    return FinalAnswer(
        text=answer[:max_answer_chars].rstrip() if is_truncated else answer,
        reasoning=reasoning[:max_reasoning_chars],
        is_truncated=is_truncated,
        is_reasoning_truncated=len(reasoning) > max_reasoning_chars,
    )


# ---------------------------------------------------------------------------------------------
# Pieces shared by the two body kinds


def _token_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _reasoning_of(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _milliseconds_of(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e9:
        return round(float(value), 3)
    return None


class _Usage:
    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self._timings_prompt: int | None = None
        self._timings_completion: int | None = None
        self.server_prompt_ms: float | None = None
        self.server_generation_ms: float | None = None

    def read(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = _token_count(usage.get("prompt_tokens"))
            self.completion_tokens = _token_count(usage.get("completion_tokens"))
        timings = payload.get("timings")  # llama.cpp, also when it sends no usage
        if isinstance(timings, dict):
            self._timings_prompt = _token_count(timings.get("prompt_n"))
            self._timings_completion = _token_count(timings.get("predicted_n"))
            self.server_prompt_ms = _milliseconds_of(timings.get("prompt_ms"))
            self.server_generation_ms = _milliseconds_of(timings.get("predicted_ms"))

    def counts(self) -> tuple[int | None, int | None]:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return self._timings_prompt, self._timings_completion
        return self.prompt_tokens, self.completion_tokens


def parse_completion(payload: Any) -> AnswerParts:
    """A non-streaming `chat.completion` body (already decoded from JSON)."""
    if isinstance(payload, dict) and payload.get("error"):
        raise in_band_error(payload)
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BodyError("sent a body that is not a chat completion (no choices[0].message)")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise BodyError("sent a body that is not a chat completion (no choices[0].message)")
    content = message.get("content")
    reasoning = _reasoning_of(message)
    if isinstance(content, list):  # content parts: [{"type": "text", "text": …}, …]
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        content = "".join(text for text in texts if isinstance(text, str))
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise BodyError("sent an answer that is not text (choices[0].message.content)")
    finish_reason = choices[0].get("finish_reason")
    usage = _Usage()
    usage.read(payload)
    prompt_tokens, completion_tokens = usage.counts()
    return AnswerParts(
        content=content,
        reasoning=reasoning,
        finish_reason=finish_reason if isinstance(finish_reason, str) and finish_reason else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        server_prompt_ms=usage.server_prompt_ms,
        server_generation_ms=usage.server_generation_ms,
    )


# ---------------------------------------------------------------------------------------------
# Server-sent events


class _ContentBuffer:
    """Streamed content, bounded: reading stops once the answer is longer than its cap.

    Content may carry a `<think>` block, so the answer is what follows `</think>` when there is
    one. Until a closing tag is seen in content that did not open with `<think>`, the text may
    still turn out to be reasoning (the prompt template opened the block), so the budget for it
    is the answer cap plus the reasoning cap.
    """

    def __init__(self, *, max_answer_chars: int, max_reasoning_chars: int) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._head = ""  # the first characters, to see whether content opens with <think>
        self._tail = ""  # the last characters, to find a closing tag split across deltas
        self._answer_start: int | None = None  # index just past </think>
        self._max_answer_chars = max_answer_chars
        self._max_raw_chars = max_answer_chars + max_reasoning_chars + len(THINK_OPEN + THINK_CLOSE) + 64

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def _opens_with_think(self) -> bool:
        return self._head.lstrip().startswith(THINK_OPEN)

    def add(self, text: str) -> bool:
        """Add a delta; False once the answer is past its cap and reading should stop."""
        if self._answer_start is None:
            window = self._tail + text
            found = window.find(THINK_CLOSE)
            if found != -1:
                self._answer_start = self._length - len(self._tail) + found + len(THINK_CLOSE)
            self._tail = window[-(len(THINK_CLOSE) - 1) :]
        if len(self._head) < 64:
            self._head = (self._head + text)[:64]
        self._parts.append(text)
        self._length += len(text)
        if self._length > self._max_raw_chars:
            return False
        if self._answer_start is None and not self._opens_with_think():
            return True  # cannot tell reasoning from answer yet; the raw budget bounds it
        answer_start = self._answer_start if self._answer_start is not None else self._length
        if self._length - answer_start <= self._max_answer_chars:
            return True
        answer, _ = split_reasoning(self.text)  # only near the cap: whitespace is not counted
        return len(answer) <= self._max_answer_chars


class _ReasoningBuffer:
    def __init__(self, *, max_chars: int) -> None:
        self._parts: list[str] = []
        self._room = max_chars + 1  # one more, so that finalize() sees it was cut

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def add(self, text: str) -> None:
        if self._room > 0:
            self._parts.append(text[: self._room])
            self._room -= min(len(text), self._room)


class EventStreamParser:
    """Parses a `text/event-stream` chat completion as its bytes arrive.

    feed() the bytes; stop when `wants_more` turns False ([DONE] seen, or the answer cap reached);
    then finish() returns the parts or raises BodyError (a stream cut off before its end).
    """

    def __init__(self, *, max_answer_chars: int, max_reasoning_chars: int, max_line_chars: int) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_data: list[str] = []
        self._event_name = ""
        self._max_line_chars = max_line_chars
        self._content = _ContentBuffer(
            max_answer_chars=max_answer_chars, max_reasoning_chars=max_reasoning_chars
        )
        self._reasoning = _ReasoningBuffer(max_chars=max_reasoning_chars)
        self._usage = _Usage()
        self._finish_reason: str | None = None
        self._has_chunk = False
        self._first_token_at: float | None = None
        self.is_done = False
        self.is_stopped_early = False

    @property
    def wants_more(self) -> bool:
        return not (self.is_done or self.is_stopped_early)

    def feed(self, data: bytes) -> None:
        self._buffer += self._decoder.decode(data)
        self._read_lines(at_end=False)

    def finish(self) -> AnswerParts:
        if self.wants_more:
            self._buffer += self._decoder.decode(b"", final=True)
            self._read_lines(at_end=True)
        if self.wants_more and self._buffer:
            self._line(self._buffer)  # a last line without its newline
            self._buffer = ""
        if self.wants_more and self._pending_data:
            self._end_of_event(is_cut=True)
        if self.wants_more and self._finish_reason is None:
            raise BodyError(
                "sent a stream that was cut off before its end (no [DONE] and no finish_reason)",
                is_retryable=True,
            )
        if not self._has_chunk and not self.is_stopped_early:
            raise BodyError("sent a stream with no chat completion chunk in it")
        prompt_tokens, completion_tokens = self._usage.counts()
        return AnswerParts(
            content=self._content.text,
            reasoning=self._reasoning.text,
            finish_reason=self._finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            is_stopped_early=self.is_stopped_early,
            first_token_at=self._first_token_at,
            server_prompt_ms=self._usage.server_prompt_ms,
            server_generation_ms=self._usage.server_generation_ms,
        )

    def _read_lines(self, *, at_end: bool) -> None:
        buffer = self._buffer
        position = 0
        while self.wants_more:
            newline = buffer.find("\n", position)
            carriage = buffer.find("\r", position, newline if newline != -1 else len(buffer))
            end = carriage if carriage != -1 else newline
            if end == -1:
                break
            if buffer[end] == "\r":
                if end + 1 == len(buffer) and not at_end:
                    break  # a \n may follow in the next chunk
                after = end + 2 if buffer.startswith("\n", end + 1) else end + 1
            else:
                after = end + 1
            self._line(buffer[position:end])
            position = after
        self._buffer = buffer[position:]
        if len(self._buffer) > self._max_line_chars:
            raise BodyError(f"sent an event-stream line longer than {self._max_line_chars} characters")

    def _line(self, line: str) -> None:
        if not line:
            self._end_of_event(is_cut=False)
            return
        if line.startswith(":"):
            return  # a comment, e.g. ": keep-alive"
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data(value)
        elif name == "event":
            self._event_name = value.strip()
        elif name == "error":  # llama.cpp: `error: {"code": 500, "message": …}`
            try:
                payload: Any = json.loads(value)
            except ValueError:
                payload = value
            raise in_band_error(payload)
        # `id:`, `retry:` and unknown fields are ignored, as the SSE specification says.

    def _data(self, value: str) -> None:
        if not self._pending_data and value.strip() == "[DONE]":
            self.is_done = True
            return
        self._pending_data.append(value)
        # One data line is one JSON chunk almost everywhere, and some servers never send the blank
        # line that ends an event, so a chunk is taken as soon as the data so far parses.
        try:
            payload = json.loads("\n".join(self._pending_data))
        except ValueError:
            return
        self._pending_data.clear()
        self._payload(payload)

    def _end_of_event(self, *, is_cut: bool) -> None:
        data = "\n".join(self._pending_data).strip()
        self._pending_data.clear()
        event_name, self._event_name = self._event_name, ""
        if not data:
            return
        if data == "[DONE]":
            self.is_done = True
            return
        if is_cut:
            return  # the stream ended inside an event: finish() reports the cut
        try:
            payload = json.loads(data)
        except ValueError:
            if event_name == "error":
                raise in_band_error(data) from None
            raise BodyError(f"sent a stream event that is not JSON: {shorten(data, 80)}") from None
        self._event_name = event_name
        self._payload(payload)
        self._event_name = ""

    def _payload(self, payload: Any) -> None:
        if self._event_name == "error" or (isinstance(payload, dict) and payload.get("error")):
            raise in_band_error(payload)
        if not isinstance(payload, dict):
            raise BodyError("sent a stream event that is not a JSON object")
        self._usage.read(payload)
        choices = payload.get("choices")
        if choices is None:
            return
        if not isinstance(choices, list):
            raise BodyError("sent a stream event that is not a chat completion chunk (choices)")
        self._has_chunk = True
        for choice in choices:
            if not isinstance(choice, dict):
                raise BodyError("sent a stream event that is not a chat completion chunk (choices)")
            if choice.get("index", 0) == 0:
                self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = _reasoning_of(delta)
            content = delta.get("content")
            if (reasoning or (isinstance(content, str) and content)) and self._first_token_at is None:
                self._first_token_at = time.monotonic()
            if reasoning:
                self._reasoning.add(reasoning)
            if isinstance(content, str) and content and not self._content.add(content):
                self.is_stopped_early = True
        finish_reason = choice.get("finish_reason")
        if isinstance(finish_reason, str) and finish_reason:
            self._finish_reason = finish_reason
