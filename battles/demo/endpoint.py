"""A synthetic OpenAI-compatible model endpoint, so a fresh install shows a meaningful arena.

`make run` starts it next to the web process. Four fake models answer the demo bank
(bank.jsonl) with deliberately different quality, so votes produce a leaderboard with a clear order.
A fifth, the demo judge `arbiter` (judge.py), compares two answers with the bank's reference answer.
Standard library only: it must start instantly and must not need Django, a database or a GPU.

    python -m battles.demo.endpoint --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import argparse
import hmac
import json
import math
import os
import random
import re
import signal
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Final, TypedDict
from urllib.parse import urlsplit

from battles.demo.judge import JUDGE_MARKERS as JUDGE_MARKERS  # re-exported: arena judge prompts use them
from battles.demo.judge import (
    JudgePromptError,
    JudgeSettings,
    judge_reply,
    parse_judge_prompt,
    similarity,
)

BANK_PATH: Final = Path(__file__).with_name("bank.jsonl")
LATENCY_SCALE_ENV: Final = "ARENA_DEMO_LATENCY_SCALE"
API_KEY_ENV: Final = "ARENA_DEMO_API_KEY"
JUDGE_NOISE_ENV: Final = "ARENA_DEMO_JUDGE_NOISE"
JUDGE_POSITION_BIAS_ENV: Final = "ARENA_DEMO_JUDGE_POSITION_BIAS"
JUDGE_UNPARSEABLE_SHARE_ENV: Final = "ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE"
OWNED_BY: Final = "arena-demo"
MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024


class DemoModel(TypedDict):
    model_id: str
    display_name: str
    description: str


DEMO_MODELS: Final[tuple[DemoModel, ...]] = tuple(
    DemoModel(model_id=model_id, display_name=f"Demo {model_id.title()}", description=description)
    for model_id, description in (
        ("sage", "Synthetic demo model: the prepared reference answer verbatim (best quality)."),
        ("brief", "Synthetic demo model: only the first sentence of the reference answer (mediocre)."),
        ("jumble", "Synthetic demo model: reference sentences shuffled, words dropped (poor quality)."),
        ("parrot", "Synthetic demo model: repeats the question, says it is not sure (worst quality)."),
    )
)
MODEL_IDS: Final = tuple(model["model_id"] for model in DEMO_MODELS)
# Served next to the contenders but not one of them: it judges their answers instead of answering.
JUDGE_MODEL_ID: Final = "arbiter"
DEMO_JUDGE: Final[DemoModel] = DemoModel(
    model_id=JUDGE_MODEL_ID,
    display_name="Demo Arbiter",
    description=(
        "Synthetic demo judge: prefers the answer closest to the prepared reference, "
        "with a little noise and a settable position bias."
    ),
)
SERVED_MODEL_IDS: Final = (*MODEL_IDS, JUDGE_MODEL_ID)

# Slower for better answers, like real models, so the latency column of the arena is not flat.
BASE_LATENCY_SECONDS: Final[Mapping[str, float]] = {
    "sage": 1.2,
    "brief": 0.4,
    "jumble": 0.7,
    "parrot": 0.2,
    JUDGE_MODEL_ID: 0.5,
}

_CJK_CLASS: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PATTERN: Final = re.compile(f"[{_CJK_CLASS}]")
# A "word" is a run of non-space characters, or one or two Chinese characters (Chinese has no spaces).
_TOKEN_PATTERN: Final = re.compile(f"\\s+|[{_CJK_CLASS}]{{1,2}}|[^\\s{_CJK_CLASS}]+")
# A period only ends a sentence before whitespace, so "3.14" and "$0.05" stay whole.
_SENTENCE_END_PATTERN: Final = re.compile(r"[。！？]|[.!?](?=\s|$)")
_SENTENCE_SPLIT_PATTERN: Final = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+")
_JUMBLE_DROP_PROBABILITY: Final = 0.2
# Accepted like OpenAI does, so real clients work unchanged; the answers ignore all but seed and stream.
_PARAMETER_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    **dict.fromkeys(("temperature", "top_p"), (int, float)),
    **dict.fromkeys(("max_tokens", "seed"), (int,)),
    "stream": (bool,),
}

_GENERIC_ANSWERS: Final[Mapping[str, Mapping[str, str]]] = {
    "zh": {
        "sage": (
            "感谢你的提问！我是 Arena 的演示模型，只为演示题库里的问题准备了答案，"
            "这个问题不在题库中，所以很抱歉，我没法给出真正有用的回答。\n\n"
            "如果想体验完整的对战效果，可以从演示题库里挑一道题来问我；"
            "管理员接入真实的模型之后，这里就会显示真实的回答。"
        ),
        "brief": "我是演示模型，没有为这个问题准备答案。",
        "jumble": "这个问题……演示模型 没有准备 答案。题库里的 换一道 也许。",
        "parrot": "你问的是：“{question}”。我是演示模型，没有准备这个问题的答案，我不太确定。",
    },
    "en": {
        "sage": (
            "Thank you for your question! I am a demo model of the Arena, and I only have prepared "
            "answers for the questions in the demo bank. This question is not one of them, so I'm sorry "
            "that I cannot give you a genuinely useful answer.\n\n"
            "To see a full battle, try one of the demo questions; once an administrator connects a "
            "real model, real answers will appear here."
        ),
        "brief": "I am a demo model and have no prepared answer for this question.",
        "jumble": "This question... demo model no prepared answer. Perhaps the bank, another one try.",
        "parrot": 'You asked: "{question}". I am a demo model without a prepared answer, so I am not sure.',
    },
}
_PARROT_ANSWERS: Final[Mapping[str, str]] = {
    "zh": (
        "你问的是：“{question}”\n\n嗯……这个问题我不太确定。"
        "我只能把问题再说一遍，给不出可靠的答案，建议你查一查其他资料。"
    ),
    "en": (
        'You asked: "{question}"\n\nHmm, I am not sure about this one. I can only repeat the question, '
        "and I would rather not guess, so please check another source."
    ),
}


@dataclass(frozen=True)
class BankEntry:
    question_id: str
    language: str
    text: str
    reference_answer: str


@dataclass
class RequestError(Exception):
    """A request the endpoint refuses, answered in OpenAI's error shape."""

    status: int
    code: str
    message: str
    param: str | None = None


def load_bank(path: Path = BANK_PATH) -> dict[str, BankEntry]:
    """Read the bank, keyed by stripped question text; a broken bank fails loudly at start-up."""
    bank: dict[str, BankEntry] = {}
    with path.open(encoding="utf-8") as bank_file:
        for line_number, line in enumerate(bank_file, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                entry = BankEntry(row["id"], row["language"], row["text"].strip(), row["reference_answer"])
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ValueError(f"{path}:{line_number}: not a valid bank row: {error!r}") from None
            if entry.text in bank:
                raise ValueError(f"{path}:{line_number}: duplicate question text of {entry.question_id}")
            bank[entry.text] = entry
    return bank


def _number_from_environment(
    name: str, default: float, *, signed: bool = False, at_most: float = math.inf
) -> float:
    """A plain decimal number; anything else (words, exponents, nan, inf) is a ValueError naming it."""
    raw_value = os.environ.get(name, "").strip()
    if not raw_value:
        return default
    sign = "[-+]?" if signed else ""
    number = float(raw_value) if re.fullmatch(sign + r"(\d+(\.\d*)?|\.\d+)", raw_value) else math.nan
    if not math.isfinite(number) or number > at_most:
        kind = "a number" if signed else "a non-negative number"
        limit = f" of at most {at_most:g}" if math.isfinite(at_most) else ""
        raise ValueError(f"{name} must be {kind}{limit}, got {raw_value!r}")
    return number


def latency_scale_from_environment() -> float:
    return _number_from_environment(LATENCY_SCALE_ENV, 1.0)


def judge_settings_from_environment() -> JudgeSettings:
    defaults = JudgeSettings()
    return JudgeSettings(
        noise=_number_from_environment(JUDGE_NOISE_ENV, defaults.noise),
        position_bias=_number_from_environment(JUDGE_POSITION_BIAS_ENV, defaults.position_bias, signed=True),
        unparseable_share=_number_from_environment(
            JUDGE_UNPARSEABLE_SHARE_ENV, defaults.unparseable_share, at_most=1.0
        ),
    )


def simulated_latency_seconds(model_id: str) -> float:
    """How long a model takes to answer: its base latency times ARENA_DEMO_LATENCY_SCALE."""
    return BASE_LATENCY_SECONDS[model_id] * latency_scale_from_environment()


def is_chinese(text: str) -> bool:
    return _CJK_PATTERN.search(text) is not None


def estimate_tokens(text: str) -> int:
    """Rough count: one token per Chinese character, one per four other characters."""
    chinese_characters = len(_CJK_PATTERN.findall(text))
    return chinese_characters + math.ceil((len(text) - chinese_characters) / 4)


def first_sentence(text: str) -> str:
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "")
    sentence_end = _SENTENCE_END_PATTERN.search(first_line)
    return first_line[: sentence_end.end()] if sentence_end else first_line


def jumble(text: str, *, question: str, seed: int | None) -> str:
    """Shuffle the sentences, drop about one word in five; the same (question, seed), the same text."""
    generator = random.Random(f"{seed}\x00{question}")  # a str seed is hashed stably, not per process
    sentences = [
        sentence.strip()
        for line in text.splitlines()
        for sentence in _SENTENCE_SPLIT_PATTERN.split(line)
        if sentence.strip()
    ]
    generator.shuffle(sentences)
    damaged_sentences = []
    for sentence in sentences:
        tokens = _TOKEN_PATTERN.findall(sentence)
        kept = [t for t in tokens if t.isspace() or generator.random() >= _JUMBLE_DROP_PROBABILITY]
        damaged_sentences.append(re.sub(r"\s{2,}", " ", "".join(kept)).strip())
    separator = "" if is_chinese(text) else " "
    jumbled = separator.join(sentence for sentence in damaged_sentences if sentence)
    if jumbled == text and " " in jumbled:
        jumbled = jumbled.rsplit(" ", 1)[0]  # a one-sentence text where no word happened to drop
    return jumbled


def answer_for(model_id: str, question: str, bank: Mapping[str, BankEntry], *, seed: int | None) -> str:
    question = question.strip()
    entry = bank.get(question)
    if entry is None:
        language = "zh" if is_chinese(question) else "en"
        return _GENERIC_ANSWERS[language][model_id].format(question=question)
    if model_id == "sage":
        return entry.reference_answer
    if model_id == "brief":
        return first_sentence(entry.reference_answer)
    if model_id == "jumble":
        return jumble(entry.reference_answer, question=question, seed=seed)
    return _PARROT_ANSWERS[entry.language].format(question=question)


def _words(text: str) -> list[str]:
    return [token for token in _TOKEN_PATTERN.findall(text) if not token.isspace()]


def judge_answers(
    prompt: str, bank: Mapping[str, BankEntry], *, seed: int | None, settings: JudgeSettings
) -> str:
    """The arbiter's reply to a judge prompt (the last user message); the same prompt, the same reply."""
    try:
        sections = parse_judge_prompt(prompt)
    except JudgePromptError as error:
        raise RequestError(400, "invalid_judge_prompt", str(error), param="messages") from None
    entry = bank.get(sections.question)
    # A question outside the bank has no prepared answer; the best stand-in is to stay on its topic.
    reference_words = _words(entry.reference_answer if entry else sections.question)
    return judge_reply(
        similarity(_words(sections.answer_a), reference_words),
        similarity(_words(sections.answer_b), reference_words),
        chinese=is_chinese(sections.question),
        settings=settings,
        seed_text=f"{seed}\x00{prompt}",
    )


def _message_text(content: Any) -> str:
    """Message content is a string or, in newer clients, a list of typed parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    raise RequestError(400, "invalid_messages", "message content must be a string or a list of parts")


def _parse_chat_request(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_json", "request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestError(400, "missing_model", "'model' is required and must be a string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "missing_messages", "'messages' must be a non-empty list", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            message_error = f"messages[{index}] must be an object with a 'role'"
            raise RequestError(400, "invalid_messages", message_error, param="messages")
    for name, types in _PARAMETER_TYPES.items():
        value = body.get(name)
        is_wrong_bool = isinstance(value, bool) and bool not in types
        if value is not None and (not isinstance(value, types) or is_wrong_bool):
            raise RequestError(400, "invalid_parameter", f"'{name}' has the wrong type", param=name)
    return body


class DemoServer(ThreadingHTTPServer):
    def __init__(self, host: str, port: int, *, bank: Mapping[str, BankEntry], log_requests: bool) -> None:
        self.bank = bank
        self.log_requests = log_requests
        super().__init__((host, port), DemoRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup that can take seconds on offline machines.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        # shutdown() waits up to one poll interval; the default half second adds up across tests.
        super().serve_forever(poll_interval)


class DemoRequestHandler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"  # keep-alive: the generation workers make many calls in a row
    server_version = "ArenaDemo/1.0"
    timeout = 60  # an idle keep-alive connection must not hold a thread forever
    # Headers and body go out in separate writes; with Nagle on, each response waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        self._status = 0
        self._model_id = "-"
        try:
            self._route(method)
        except RequestError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing left to answer
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if not self._status:  # headers not sent yet, so the client can still get a proper error
                self._send_error(RequestError(500, "internal_error", "the demo endpoint failed; see its log"))
        finally:
            if self.server.log_requests:
                elapsed_ms = round((time.monotonic() - started) * 1000)
                sys.stderr.write(
                    f"arena-demo {self.client_address[0]} {method} {self.path} {self._status} "
                    f"model={self._model_id} {elapsed_ms}ms\n"
                )

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        raw_body = self._read_body() if method == "POST" else b""
        self._check_api_key()
        if path == "/v1/chat/completions":
            if method != "POST":
                raise RequestError(405, "method_not_allowed", f"use POST for {path}")
            self._chat_completions(raw_body)
        elif path == "/v1/models" and method == "GET":
            models = [
                {"id": m, "object": "model", "created": 0, "owned_by": OWNED_BY} for m in SERVED_MODEL_IDS
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            raise RequestError(404, "not_found", f"no such endpoint: {method} {path or '/'}")

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise RequestError(400, "invalid_content_length", "missing, invalid or too large Content-Length")
        return self.rfile.read(length)

    def _check_api_key(self) -> None:
        expected_key = os.environ.get(API_KEY_ENV, "")
        if not expected_key:
            return
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {expected_key}".encode()):
            raise RequestError(401, "invalid_api_key", "send the header 'Authorization: Bearer <key>'")

    def _chat_completions(self, raw_body: bytes) -> None:
        body = _parse_chat_request(raw_body)
        model_id: str = body["model"]
        if model_id not in SERVED_MODEL_IDS:
            raise RequestError(404, "model_not_found", f"no model '{model_id}'", param="model")
        self._model_id = model_id
        messages: list[dict[str, Any]] = body["messages"]
        user_texts = [_message_text(m.get("content")) for m in messages if m["role"] == "user"]
        if not user_texts:
            raise RequestError(400, "invalid_messages", "'messages' has no user message", param="messages")
        try:
            latency_seconds = simulated_latency_seconds(model_id)
            judge_settings = judge_settings_from_environment() if model_id == JUDGE_MODEL_ID else None
        except ValueError as error:
            raise RequestError(500, "invalid_server_configuration", str(error)) from None
        if judge_settings is not None:
            content = judge_answers(
                user_texts[-1], self.server.bank, seed=body.get("seed"), settings=judge_settings
            )
        else:
            content = answer_for(model_id, user_texts[-1], self.server.bank, seed=body.get("seed"))
        prompt_tokens = sum(estimate_tokens(_message_text(m.get("content"))) for m in messages)
        completion_tokens = estimate_tokens(content)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        usage["total_tokens"] = prompt_tokens + completion_tokens
        time.sleep(latency_seconds)
        envelope = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": model_id}
        if body.get("stream"):
            options = body.get("stream_options")
            wants_usage = isinstance(options, dict) and options.get("include_usage") is True
            self._stream(envelope, content, usage if wants_usage else None)
            return
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        self._send_json(200, envelope | {"object": "chat.completion", "choices": [choice], "usage": usage})

    def _stream(self, envelope: dict[str, Any], content: str, usage: dict[str, int] | None) -> None:
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # no Content-Length: the end of the body is the close
        self.end_headers()
        self.close_connection = True
        deltas: list[dict[str, str]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in _TOKEN_PATTERN.findall(content)]
        finish_reasons: list[str | None] = [None] * len(deltas) + ["stop"]
        for delta, finish_reason in zip([*deltas, {}], finish_reasons, strict=True):
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            chunk = envelope | {"object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
        if usage is not None:
            # As OpenAI and vLLM do with stream_options.include_usage: a last chunk with no choices.
            chunk = envelope | {"object": "chat.completion.chunk", "choices": [], "usage": usage}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        encoded = json.dumps(payload, ensure_ascii=False).encode()
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(encoded)

    def _send_error(self, error: RequestError) -> None:
        error_type = "server_error" if error.status >= 500 else "invalid_request_error"
        payload = {"message": error.message, "type": error_type, "param": error.param, "code": error.code}
        self._send_json(error.status, {"error": payload})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _handle writes one line per request, with the model and the elapsed time

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            sys.stderr.write(f"arena-demo {self.client_address[0]} {format % args}\n")


def make_server(host: str, port: int, *, log_requests: bool = True) -> DemoServer:
    """Bind (port 0 picks a free port) without serving; call serve_forever(), e.g. in a thread."""
    # A typo in a variable should stop start-up, not every request.
    latency_scale_from_environment()
    judge_settings_from_environment()
    return DemoServer(host, port, bank=load_bank(), log_requests=log_requests)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m battles.demo.endpoint", description="Serve the Arena demo models (OpenAI-compatible)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on, 0 for any free port")
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    arguments = parser.parse_args(argv)
    try:
        server = make_server(arguments.host, arguments.port, log_requests=not arguments.quiet)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"arena-demo: cannot start on {arguments.host}:{arguments.port}: {error}\n")
        return 1

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serving_thread = threading.Thread(target=server.serve_forever, name="arena-demo-serve", daemon=True)
    serving_thread.start()
    address = f"http://{server.server_name}:{server.server_port}/v1"
    sys.stderr.write(f"arena-demo: serving {', '.join(SERVED_MODEL_IDS)} at {address}\n")
    # Poll rather than wait(): a signal handler that takes the Event's lock while the main thread
    # holds it would deadlock.
    while not stop_requested.is_set():
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    sys.stderr.write("arena-demo: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
