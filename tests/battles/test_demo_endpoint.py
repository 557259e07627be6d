"""The demo model endpoint over real HTTP, and the demo bank it serves. No Django, no database."""

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from battles.demo import endpoint
from battles.demo.endpoint import DEMO_JUDGE, DEMO_MODELS, JUDGE_MARKERS, MODEL_IDS, make_server
from battles.demo.judge import format_judge_sections, verdict_for

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


JUDGE_ENVIRONMENT = (
    "ARENA_DEMO_JUDGE_NOISE",
    "ARENA_DEMO_JUDGE_POSITION_BIAS",
    "ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE",
)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0")
    monkeypatch.delenv("ARENA_DEMO_API_KEY", raising=False)
    for name in JUDGE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
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


def test_models_list_names_the_four_demo_models_and_the_judge(client: httpx.Client) -> None:
    response = client.get("/v1/models")

    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"id": model_id, "object": "model", "created": 0, "owned_by": "arena-demo"}
            for model_id in ("sage", "brief", "jumble", "parrot", "arbiter")
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
        ("arbiter", format_judge_sections(BAT_QUESTION, "The ball costs 5 cents.", "Ten cents.")),
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


def test_latency_is_simulated_per_model_and_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0.5")

    assert endpoint.simulated_latency_seconds("sage") == 0.6  # 1.2 s times 0.5
    assert endpoint.simulated_latency_seconds("parrot") == 0.1


def test_invalid_latency_scale_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for invalid in ("fast", "-1", "nan"):
        monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", invalid)
        with pytest.raises(ValueError, match="ARENA_DEMO_LATENCY_SCALE"):
            make_server("127.0.0.1", 0)


ENGLISH_INSTRUCTIONS = "Compare the two answers to the question and give your verdict as [[A>B]] or similar."
CHINESE_INSTRUCTIONS = "请比较下面两个回答，最后用 [[A>B]] 这样的格式给出结论。"
ENGLISH_INTRO = "I compared both answers with the reference answer. "
CHINESE_INTRO = "我把两个回答分别和参考答案作了比较。"


@pytest.fixture
def exact_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """No noise and no position bias: the verdict follows the similarity to the reference alone."""
    monkeypatch.setenv("ARENA_DEMO_JUDGE_NOISE", "0")
    monkeypatch.setenv("ARENA_DEMO_JUDGE_POSITION_BIAS", "0")


def judge_prompt(
    question: str, answer_a: str, answer_b: str, instructions: str = ENGLISH_INSTRUCTIONS
) -> str:
    return f"{instructions}\n\n{format_judge_sections(question, answer_a, answer_b)}\n\nYour verdict:"


def ask_judge(client: httpx.Client, prompt: str, **extra: Any) -> httpx.Response:
    return ask(client, "arbiter", prompt, **extra)


def verdict(client: httpx.Client, question: str, answer_a: str, answer_b: str, **extra: Any) -> str:
    reply = answer(client, "arbiter", judge_prompt(question, answer_a, answer_b), **extra)
    last_line = reply.splitlines()[-1]
    assert re.fullmatch(r"\[\[(A>>B|A>B|A=B|B>A|B>>A)\]\]", last_line), reply
    return last_line[2:-2]


def test_demo_judge_is_served_apart_from_the_contenders() -> None:
    assert DEMO_JUDGE == {
        "model_id": "arbiter",
        "display_name": "Demo Arbiter",
        "description": (
            "Synthetic demo judge: prefers the answer closest to the prepared reference, "
            "with a little noise and a settable position bias."
        ),
    }
    assert endpoint.JUDGE_MODEL_ID == "arbiter"
    assert MODEL_IDS == ("sage", "brief", "jumble", "parrot")
    assert endpoint.SERVED_MODEL_IDS == ("sage", "brief", "jumble", "parrot", "arbiter")
    assert endpoint.BASE_LATENCY_SECONDS["arbiter"] == 0.5
    assert dict(JUDGE_MARKERS) == {
        "question": ("<|question|>", "<|end of question|>"),
        "answer_a": ("<|answer A|>", "<|end of answer A|>"),
        "answer_b": ("<|answer B|>", "<|end of answer B|>"),
    }
    assert format_judge_sections("Q?", "one", "two") == (
        "<|question|>\nQ?\n<|end of question|>\n"
        "<|answer A|>\none\n<|end of answer A|>\n"
        "<|answer B|>\ntwo\n<|end of answer B|>"
    )


def test_judge_prefers_the_answer_closest_to_the_reference_in_either_position(
    client: httpx.Client, exact_judge: None
) -> None:
    sage = answer(client, "sage", BAT_QUESTION)
    parrot = answer(client, "parrot", BAT_QUESTION)

    assert answer(client, "arbiter", judge_prompt(BAT_QUESTION, sage, parrot)) == (
        f"{ENGLISH_INTRO}Answer A is much closer to the reference (1.00 vs 0.00).\n\n[[A>>B]]"
    )
    assert answer(client, "arbiter", judge_prompt(BAT_QUESTION, parrot, sage)) == (
        f"{ENGLISH_INTRO}Answer B is much closer to the reference (0.00 vs 1.00).\n\n[[B>>A]]"
    )


def test_judge_answers_a_chinese_question_in_chinese_after_a_system_message(
    client: httpx.Client, exact_judge: None
) -> None:
    brief = answer(client, "brief", SKY_QUESTION)
    jumbled = answer(client, "jumble", SKY_QUESTION)
    messages = [
        {"role": "system", "content": "你是一位公正的评审。"},
        {"role": "user", "content": judge_prompt(SKY_QUESTION, brief, jumbled, CHINESE_INSTRUCTIONS)},
    ]

    response = client.post("/v1/chat/completions", json={"model": "arbiter", "messages": messages})

    assert response.status_code == 200, response.text
    assert response.json()["model"] == "arbiter"
    assert response.json()["choices"][0]["message"]["content"] == (
        f"{CHINESE_INTRO}回答 A 更接近参考答案（0.71 对 0.46）。\n\n[[A>B]]"
    )


def test_judge_takes_the_question_itself_as_reference_outside_the_bank(
    client: httpx.Client, exact_judge: None
) -> None:
    question = "What is the capital of Atlantis?"

    reply = answer(client, "arbiter", judge_prompt(question, "I have no idea at all.", f"  {question}\n"))

    assert reply == f"{ENGLISH_INTRO}Answer B is much closer to the reference (0.00 vs 1.00).\n\n[[B>>A]]"


@pytest.mark.parametrize(
    ("position_bias", "expected"),
    [("0", "A=B"), ("0.01", "A=B"), ("0.1", "A>B"), ("0.5", "A>>B"), ("-0.1", "B>A"), ("-0.5", "B>>A")],
)
def test_position_bias_favours_the_answer_shown_first(
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    exact_judge: None,
    position_bias: str,
    expected: str,
) -> None:
    monkeypatch.setenv("ARENA_DEMO_JUDGE_POSITION_BIAS", position_bias)
    brief = answer(client, "brief", BAT_QUESTION)

    assert verdict(client, BAT_QUESTION, brief, brief) == expected


def test_large_position_bias_makes_the_first_answer_win_in_both_orders(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, exact_judge: None
) -> None:
    monkeypatch.setenv("ARENA_DEMO_JUDGE_POSITION_BIAS", "0.5")
    sage = answer(client, "sage", BAT_QUESTION)
    brief = answer(client, "brief", BAT_QUESTION)

    assert answer(client, "arbiter", judge_prompt(BAT_QUESTION, sage, brief)) == (
        f"{ENGLISH_INTRO}Answer A is much closer to the reference (1.50 vs 0.69).\n\n[[A>>B]]"
    )
    # Without the bias sage wins by 0.31; with it, brief shown first wins by 0.19.
    assert answer(client, "arbiter", judge_prompt(BAT_QUESTION, brief, sage)) == (
        f"{ENGLISH_INTRO}Answer A is closer to the reference (1.19 vs 1.00).\n\n[[A>B]]"
    )


def test_same_request_gets_the_same_noisy_verdict(client: httpx.Client) -> None:
    brief = answer(client, "brief", BAT_QUESTION)
    jumbled = answer(client, "jumble", BAT_QUESTION)
    prompt = judge_prompt(BAT_QUESTION, brief, jumbled)

    first = answer(client, "arbiter", prompt, seed=7)

    assert answer(client, "arbiter", prompt, seed=7) == first
    assert answer(client, "arbiter", prompt, seed=8) != first  # the noise moves the scores shown
    assert answer(client, "arbiter", prompt) == answer(client, "arbiter", prompt)
    assert first.endswith("\n\n[[A>>B]]")


def test_unparseable_share_one_replies_without_a_verdict(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE", "1")
    sage = answer(client, "sage", BAT_QUESTION)

    english = answer(client, "arbiter", judge_prompt(BAT_QUESTION, sage, "No idea."))
    chinese = answer(client, "arbiter", judge_prompt(SKY_QUESTION, "不知道。", "也许是散射。"))

    assert "[[" not in english and "[[" not in chinese
    assert english == (
        "Both answers have their merits and the question is subtle; I keep going back and forth "
        "and would rather think about it a little longer."
    )
    assert chinese == "两个回答各有长处，这个问题也不简单，我反复比较，还想再斟酌一下。"
    monkeypatch.setenv("ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE", "0")
    assert answer(client, "arbiter", judge_prompt(BAT_QUESTION, sage, "No idea.")).endswith("[[A>>B]]")


def test_judge_ranks_the_demo_models_over_the_whole_bank_in_both_orders(
    client: httpx.Client, exact_judge: None
) -> None:
    pairs = [
        ("sage", "brief"),
        ("sage", "jumble"),
        ("sage", "parrot"),
        ("brief", "jumble"),
        ("jumble", "parrot"),
    ]
    wins = dict.fromkeys(pairs, 0)
    rows = read_bank()
    for row in rows:
        answers = {model_id: answer(client, model_id, row["text"]) for model_id in MODEL_IDS}
        for better, worse in pairs:
            first_shown = verdict(client, row["text"], answers[better], answers[worse])
            second_shown = verdict(client, row["text"], answers[worse], answers[better])
            wins[better, worse] += first_shown in {"A>B", "A>>B"} and second_shown in {"B>A", "B>>A"}

    assert len(rows) == 32
    # Every question, in both orders, on the bank as it is; 90% is the promise that survives edits to it.
    assert {pair: count >= 0.9 * len(rows) for pair, count in wins.items()} == dict.fromkeys(pairs, True)
    assert wins == dict.fromkeys(pairs, 32)


ALL_MARKERS = (
    "<|question|>, <|end of question|>, <|answer A|>, <|end of answer A|>, <|answer B|>, <|end of answer B|>"
)


@pytest.mark.parametrize(
    ("prompt", "missing"),
    [
        ("Which answer is better, A or B?", ALL_MARKERS),
        (judge_prompt(BAT_QUESTION, "one", "two").replace("<|end of answer B|>", ""), "<|end of answer B|>"),
        # A marker that is not on a line of its own does not count.
        (
            judge_prompt(BAT_QUESTION, "one", "two").replace("<|answer A|>\n", "<|answer A|> "),
            "<|answer A|>",
        ),
    ],
)
def test_judge_prompt_without_a_marker_is_a_400(client: httpx.Client, prompt: str, missing: str) -> None:
    message = expect_error(ask_judge(client, prompt), 400, "invalid_judge_prompt", "messages")

    assert message == (
        f"the judge prompt (the last user message) lacks the line(s) {missing}; "
        f"it needs each of {ALL_MARKERS} once, on a line of its own, in this order"
    )


def test_judge_prompt_with_markers_repeated_or_out_of_order_is_a_400(client: httpx.Client) -> None:
    repeated = judge_prompt(BAT_QUESTION, "one", "two") + "\n<|question|>"
    swapped = format_judge_sections(BAT_QUESTION, "one", "two").replace("A|>", "C|>").replace("B|>", "A|>")
    swapped = swapped.replace("C|>", "B|>")

    repeated_message = expect_error(ask_judge(client, repeated), 400, "invalid_judge_prompt", "messages")
    swapped_message = expect_error(ask_judge(client, swapped), 400, "invalid_judge_prompt", "messages")

    assert "repeats the line(s) <|question|>;" in repeated_message
    assert "has the markers out of order;" in swapped_message


def test_judge_only_reads_the_last_user_message(client: httpx.Client, exact_judge: None) -> None:
    messages = [
        {"role": "user", "content": judge_prompt(BAT_QUESTION, "one", "two")},
        {"role": "assistant", "content": "[[A=B]]"},
        {"role": "user", "content": "And now?"},
    ]
    response = client.post("/v1/chat/completions", json={"model": "arbiter", "messages": messages})

    expect_error(response, 400, "invalid_judge_prompt", "messages")


@pytest.mark.parametrize(
    ("difference", "expected"),
    [
        (0.0, "A=B"),
        (0.0199, "A=B"),
        (-0.0199, "A=B"),
        (0.02, "A>B"),
        (0.2499, "A>B"),
        (0.25, "A>>B"),
        (-0.02, "B>A"),
        (-0.2499, "B>A"),
        (-0.25, "B>>A"),
    ],
)
def test_verdict_thresholds(difference: float, expected: str) -> None:
    assert verdict_for(difference) == expected


def test_similarity_is_one_for_the_reference_and_zero_for_unrelated_text() -> None:
    reference = endpoint._words(reference_for(BAT_QUESTION))

    assert endpoint.similarity(reference, reference) == 1.0
    assert endpoint.similarity(endpoint._words("Paris."), endpoint._words("Paris.")) == 1.0
    assert endpoint.similarity([], reference) == 0.0
    assert (
        endpoint.similarity(endpoint._words("Completely unrelated words about the weather."), reference)
        == 0.0
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARENA_DEMO_JUDGE_NOISE", "-0.1"),
        ("ARENA_DEMO_JUDGE_NOISE", "loud"),
        ("ARENA_DEMO_JUDGE_POSITION_BIAS", "inf"),
        ("ARENA_DEMO_JUDGE_POSITION_BIAS", "0.1.2"),
        ("ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE", "1.5"),
        ("ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE", "nan"),
    ],
)
def test_invalid_judge_setting_stops_start_up_and_fails_judge_requests(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=f"^{name} must be .*, got '{re.escape(value)}'$"):
        make_server("127.0.0.1", 0)
    # Set after start-up, the server is already running: judge requests fail, the contenders still answer.
    response = ask_judge(client, judge_prompt(BAT_QUESTION, "one", "two"))
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "server_error",
        "invalid_server_configuration",
        None,
    )
    assert error["message"].startswith(f"{name} must be ")
    assert answer(client, "sage", BAT_QUESTION) == reference_for(BAT_QUESTION)


def test_negative_position_bias_is_a_valid_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0")
    monkeypatch.setenv("ARENA_DEMO_JUDGE_POSITION_BIAS", "-0.2")
    monkeypatch.setenv("ARENA_DEMO_JUDGE_NOISE", "0.1")
    monkeypatch.setenv("ARENA_DEMO_JUDGE_UNPARSEABLE_SHARE", "0.25")

    assert endpoint.judge_settings_from_environment() == endpoint.JudgeSettings(0.1, -0.2, 0.25)
    make_server("127.0.0.1", 0, log_requests=False).server_close()


def test_judge_latency_is_simulated_and_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0.4")

    assert endpoint.simulated_latency_seconds(endpoint.JUDGE_MODEL_ID) == 0.2  # 0.5 s times 0.4


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
