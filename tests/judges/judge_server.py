"""A local judge endpoint for tests: real HTTP, an OpenAI-compatible chat completion whose verdict
comes from a table keyed by the two answers in the order the prompt shows them."""

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from judges.prompts import ANSWER_A_END, ANSWER_A_START, ANSWER_B_END, ANSWER_B_START
from tests.fault_server import completion_body, json_reply


def shown_answers(prompt: str) -> tuple[str, str]:
    """The two answers in the order the prompt shows them."""
    first = prompt.split(ANSWER_A_START + "\n", 1)[1].split("\n" + ANSWER_A_END, 1)[0]
    second = prompt.split(ANSWER_B_START + "\n", 1)[1].split("\n" + ANSWER_B_END, 1)[0]
    return first, second


@dataclass
class JudgeScript:
    """Replies by (first answer, second answer): a list is replied in turn, its last item repeated."""

    replies: dict[tuple[str, str], list[str]]
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    prompts: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    down: bool = False  # answer every request 503, as an endpoint in an outage
    requests_while_down: int = 0

    def reply(self, body: dict[str, object]) -> str:
        messages = body["messages"]
        assert isinstance(messages, list)
        key = shown_answers(str(messages[-1]["content"]))
        with self.lock:
            self.prompts.append(body)
            turn = self.calls[key]
            self.calls[key] += 1
        script = self.replies.get(key, ["I would rather not say."])
        return script[min(turn, len(script) - 1)]


@contextmanager
def judge_endpoint(script: JudgeScript) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if script.down:
                with script.lock:
                    script.requests_while_down += 1
                json_reply(self, {"error": {"message": "overloaded", "type": "server_error"}}, status=503)
                return
            messages = body.get("messages") or []
            if not any("<|answer A|>" in str(message.get("content", "")) for message in messages):
                json_reply(
                    self, completion_body("Hello! The judge is here and ready to compare answers.")
                )  # a probe
                return
            json_reply(self, completion_body(script.reply(body)))

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
