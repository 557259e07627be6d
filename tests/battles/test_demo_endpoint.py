"""The demo model endpoint over real HTTP, and the demo bank it serves. No Django, no database."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from battles.demo import endpoint
from battles.demo.endpoint import DEMO_MODELS, make_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BANK_PATH = PROJECT_ROOT / "battles" / "demo" / "bank.jsonl"
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
CATEGORY_NAMES = {
    "QA": "知识问答",
    "REASONING": "推理计算",
    "WRITING": "写作",
    "CODE": "代码编程",
    "TRANSLATION": "翻译",
    "ADVICE": "生活建议",
}
ENGLISH_NAMES = {
    "QA": "Knowledge",
    "REASONING": "Reasoning",
    "WRITING": "Writing",
    "CODE": "Coding",
    "TRANSLATION": "Translation",
    "ADVICE": "Advice",
}
SKY_QUESTION = "天空为什么白天是蓝色的，傍晚却常常变成橙红色？"
BAT_QUESTION = (
    "A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. "
    "How much does the ball cost?"
)


def read_bank() -> list[dict[str, Any]]:
    with BANK_PATH.open(encoding="utf-8") as bank_file:
        return [json.loads(line) for line in bank_file if line.strip()]


def reference_for(question: str) -> str:
    reference: str = next(row["reference_answer"] for row in read_bank() if row["text"] == question)
    return reference


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0")
    monkeypatch.delenv("ARENA_DEMO_API_KEY", raising=False)
    server = make_server("127.0.0.1", 0, log_requests=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=10) as http_client:
        yield http_client
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def ask(client: httpx.Client, model: str, question: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], **extra}
    return client.post("/v1/chat/completions", json=body)


def answer(client: httpx.Client, model: str, question: str, **extra: Any) -> str:
    response = ask(client, model, question, **extra)
    assert response.status_code == 200, response.text
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def test_models_list_names_the_four_demo_models(client: httpx.Client) -> None:
    response = client.get("/v1/models")

    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"id": model_id, "object": "model", "created": 0, "owned_by": "arena-demo"}
            for model_id in ("sage", "brief", "jumble", "parrot")
        ],
    }


def test_demo_models_describe_each_synthetic_model() -> None:
    assert [(m["model_id"], m["display_name"]) for m in DEMO_MODELS] == [
        ("sage", "Demo Sage"),
        ("brief", "Demo Brief"),
        ("jumble", "Demo Jumble"),
        ("parrot", "Demo Parrot"),
    ]
    for model in DEMO_MODELS:
        assert set(model) == {"model_id", "display_name", "description"}
        assert model["description"].startswith("Synthetic demo model: ")
        assert "\n" not in model["description"]


def test_completion_has_the_openai_shape(client: httpx.Client) -> None:
    response = ask(client, "sage", SKY_QUESTION, temperature=0.7, top_p=1, max_tokens=512, seed=3)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == "sage"
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": reference_for(SKY_QUESTION)},
            "finish_reason": "stop",
        }
    ]
    usage = body["usage"]
    # Twenty-one Chinese characters, one each, plus the full-width comma and question mark as a quarter
    # token each, rounded up.
    assert usage["prompt_tokens"] == 22
    assert usage["completion_tokens"] == endpoint.estimate_tokens(reference_for(SKY_QUESTION))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_sage_answers_every_bank_question_with_its_reference_verbatim(client: httpx.Client) -> None:
    for row in read_bank():
        assert answer(client, "sage", row["text"]) == row["reference_answer"], row["id"]


def test_question_is_matched_after_stripping_and_only_the_last_user_message_counts(
    client: httpx.Client,
) -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": "an earlier answer"},
        {"role": "user", "content": f"  {BAT_QUESTION}\n"},
    ]
    response = client.post("/v1/chat/completions", json={"model": "sage", "messages": messages})

    assert response.json()["choices"][0]["message"]["content"] == reference_for(BAT_QUESTION)


def test_brief_answers_with_the_first_sentence_only(client: httpx.Client) -> None:
    assert answer(client, "brief", SKY_QUESTION) == "天空呈蓝色，主要是因为大气分子对阳光的**瑞利散射**。"
    assert (
        answer(client, "brief", BAT_QUESTION)
        == "The ball costs **5 cents** ($0.05), and the bat costs $1.05."
    )
    for row in read_bank():
        brief = answer(client, "brief", row["text"])
        assert row["reference_answer"].startswith(brief), row["id"]
        assert 0 < len(brief) < len(row["reference_answer"]) / 3, row["id"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n\nIt costs $1.05, or 3.14 units. Then more.\nSecond line.", "It costs $1.05, or 3.14 units."),
        ("天空是蓝色的。因为散射！\n第二行。", "天空是蓝色的。"),
        ("Is it? Yes.", "Is it?"),
        ("Here is a list:\n- one. two.", "Here is a list:"),
    ],
)
def test_first_sentence_stops_at_the_first_sentence_end_of_the_first_line(text: str, expected: str) -> None:
    assert endpoint.first_sentence(text) == expected


def test_jumble_is_damaged_and_deterministic_for_a_seed(client: httpx.Client) -> None:
    reference = reference_for(BAT_QUESTION)

    first = answer(client, "jumble", BAT_QUESTION, seed=7)

    assert answer(client, "jumble", BAT_QUESTION, seed=7) == first
    assert answer(client, "jumble", BAT_QUESTION, seed=8) != first
    assert first != reference
    reference_words = reference.split()
    jumbled_words = first.split()
    assert set(jumbled_words) <= set(reference_words)
    # About one word in five is dropped; the bounds leave room for chance.
    assert 0.6 * len(reference_words) < len(jumbled_words) < 0.95 * len(reference_words)


def test_jumble_damages_every_bank_answer(client: httpx.Client) -> None:
    for row in read_bank():
        jumbled = answer(client, "jumble", row["text"])
        assert jumbled != row["reference_answer"], row["id"]
        assert answer(client, "jumble", row["text"]) == jumbled, row["id"]
        assert len(jumbled) < len(row["reference_answer"]), row["id"]


def test_parrot_restates_the_question_in_its_language(client: httpx.Client) -> None:
    chinese = answer(client, "parrot", SKY_QUESTION)
    english = answer(client, "parrot", BAT_QUESTION)

    assert SKY_QUESTION in chinese
    assert "不太确定" in chinese
    assert BAT_QUESTION in english
    assert "not sure" in english
    assert reference_for(SKY_QUESTION) not in chinese


@pytest.mark.parametrize(
    ("question", "marker"),
    [("请介绍一下你自己的家乡。", "演示模型"), ("What is your favourite colour?", "demo model")],
)
def test_unknown_question_gets_a_generic_demo_answer_in_its_language(
    client: httpx.Client, question: str, marker: str
) -> None:
    answers = {model["model_id"]: answer(client, model["model_id"], question) for model in DEMO_MODELS}

    for model_id, content in answers.items():
        assert marker in content, model_id
        assert bool(CJK.search(content)) == bool(CJK.search(question)), model_id
    assert question in answers["parrot"]
    assert len(answers["sage"]) > 2 * len(answers["parrot"])
    assert len(set(answers.values())) == 4


@pytest.mark.parametrize(
    ("model", "question"),
    [
        ("sage", "Write a Python function that returns the n-th Fibonacci number efficiently."),
        ("jumble", SKY_QUESTION),
        ("parrot", "no such question"),
    ],
)
def test_stream_assembles_to_the_same_content_and_ends_with_done(
    client: httpx.Client, model: str, question: str
) -> None:
    expected = answer(client, model, question, seed=5)
    body = {"model": model, "messages": [{"role": "user", "content": question}], "seed": 5, "stream": True}

    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line]

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {model}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks[:-1])
    assert len(chunks) > 5
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks) == expected


def test_stream_ends_with_a_usage_chunk_when_asked(client: httpx.Client) -> None:
    body = {
        "model": "brief",
        "messages": [{"role": "user", "content": SKY_QUESTION}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    usage_chunk = json.loads(events[-2])
    assert events[-1] == "[DONE]" and usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert (
        usage["completion_tokens"] > 0
        and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )


def expect_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]
    message: str = error["message"]
    return message


def test_invalid_json_is_a_400(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", content=b"{not json")

    expect_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ([], "invalid_json", None),
        ({"messages": [{"role": "user", "content": "hi"}]}, "missing_model", "model"),
        ({"model": "sage"}, "missing_messages", "messages"),
        ({"model": "sage", "messages": []}, "missing_messages", "messages"),
        ({"model": "sage", "messages": ["hi"]}, "invalid_messages", "messages"),
        (
            {"model": "sage", "messages": [{"role": "system", "content": "hi"}]},
            "invalid_messages",
            "messages",
        ),
        (
            {"model": "sage", "messages": [{"role": "user", "content": "hi"}], "seed": "7"},
            "invalid_parameter",
            "seed",
        ),
        (
            {"model": "sage", "messages": [{"role": "user", "content": "hi"}], "temperature": True},
            "invalid_parameter",
            "temperature",
        ),
    ],
)
def test_malformed_request_is_a_400(client: httpx.Client, body: Any, code: str, param: str | None) -> None:
    expect_error(client.post("/v1/chat/completions", json=body), 400, code, param)


def test_unknown_model_is_a_404(client: httpx.Client) -> None:
    message = expect_error(ask(client, "gpt-17", SKY_QUESTION), 404, "model_not_found", "model")

    assert "gpt-17" in message


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("POST", "/v1/models"), ("GET", "/")])
def test_unknown_path_is_a_404(client: httpx.Client, method: str, path: str) -> None:
    expect_error(client.request(method, path), 404, "not_found")


def test_api_key_is_required_when_configured(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEMO_API_KEY", "demo-secret")

    expect_error(client.get("/v1/models"), 401, "invalid_api_key")
    expect_error(client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401, "invalid_api_key")
    expect_error(ask(client, "sage", SKY_QUESTION), 401, "invalid_api_key")
    response = client.get("/v1/models", headers={"Authorization": "Bearer demo-secret"})
    assert response.status_code == 200


def test_latency_is_simulated_per_model_and_scaled(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0.5")

    started = time.monotonic()
    answer(client, "sage", SKY_QUESTION)
    sage_seconds = time.monotonic() - started

    assert sage_seconds >= 0.6  # 1.2 s times 0.5


def test_invalid_latency_scale_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for invalid in ("fast", "-1", "nan"):
        monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", invalid)
        with pytest.raises(ValueError, match="ARENA_DEMO_LATENCY_SCALE"):
            make_server("127.0.0.1", 0)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_server_stops_cleanly_on_signal(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "battles.demo.endpoint", "--host", "127.0.0.1", "--port", "0", "--quiet"],
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        started_line = process.stderr.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/v1", started_line)
        assert port, started_line
        assert httpx.get(f"http://127.0.0.1:{port.group(1)}/v1/models", timeout=5).status_code == 200

        process.send_signal(stop_signal)
        remaining_stderr = process.stderr.read()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    assert remaining_stderr == "arena-demo: stopped\n"


def test_bank_has_32_well_formed_questions() -> None:
    rows = read_bank()

    assert len(rows) == 32
    assert len({row["id"] for row in rows}) == 32
    assert len({row["text"] for row in rows}) == 32
    assert [row["language"] for row in rows].count("zh") == 16
    assert [row["language"] for row in rows].count("en") == 16
    assert {row["category"] for row in rows} == set(CATEGORY_NAMES)
    for language in ("zh", "en"):
        assert {row["category"] for row in rows if row["language"] == language} == set(CATEGORY_NAMES)
    for row in rows:
        # A Chinese question carries its English translation, for the English interface.
        translated = {"text_en"} if row["language"] == "zh" else set()
        assert (
            set(row)
            == {
                "id",
                "category",
                "category_name",
                "category_name_en",
                "language",
                "text",
                "reference_answer",
            }
            | translated
        ), row["id"]
        assert all(row[key].strip() and not re.search(r"[\u4e00-\u9fff]", row[key]) for key in translated)
        assert re.fullmatch(rf"demo-{row['language']}-{row['category'].lower()}-\d\d", row["id"]), row["id"]
        assert row["category_name"] == CATEGORY_NAMES[row["category"]], row["id"]
        assert row["category_name_en"] == ENGLISH_NAMES[row["category"]], row["id"]
        assert row["text"] == row["text"].strip(), row["id"]
        assert row["reference_answer"] == row["reference_answer"].strip(), row["id"]


def test_bank_answers_have_the_promised_length_and_format() -> None:
    rows = read_bank()

    for row in rows:
        answer_text = row["reference_answer"]
        if row["language"] == "zh":
            assert CJK.search(row["text"]), row["id"]
            assert 100 <= len(CJK.findall(answer_text)) <= 400, row["id"]
        else:
            assert 60 <= len(answer_text.split()) <= 250, row["id"]
        if row["category"] == "CODE":
            assert re.search(r"^```[a-z]+\n", answer_text, re.MULTILINE), row["id"]
            assert answer_text.count("```") % 2 == 0, row["id"]
    assert sum("\n|---|" in row["reference_answer"] for row in rows) >= 2


def test_bank_is_utf8_without_escaped_chinese() -> None:
    raw_text = BANK_PATH.read_text(encoding="utf-8")

    assert "\\u" not in raw_text
    assert raw_text.endswith("\n")
