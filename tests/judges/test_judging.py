"""Asking a judge for a verdict (judges/services/judging.py), the judge's endpoint faked at the HTTP
boundary with respx: what is sent, what is stored, the budget, pauses, failures and unparseable
replies, and the prompt version each verdict records."""

import datetime as dt
import json
import random

import httpx
import pytest
import respx
from django.utils import timezone, translation

from battles.models import Battle, Contender
from judges.models import Judge, JudgeDay, JudgePrompt, Verdict
from judges.prompts import DEFAULT_PROMPTS
from judges.services.judges import judge_prompt_create, judge_save
from judges.services.judging import REPLY_MAX_CHARS, current_prompt, verdict_judge
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, QuestionFactory
from tests.judges.helpers import verdict_make

pytestmark = pytest.mark.django_db

URL = "http://judge.test/v1/chat/completions"
QUESTION = "What is the capital of France?"
ANSWER_A = "Paris is the capital of France."
ANSWER_B = "Lyon, I think."


def completion(content: str) -> dict:
    return {
        "id": "cmpl-judge",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
    }


def reply(content: str) -> httpx.Response:
    return httpx.Response(200, json=completion(content))


def judge_of(**fields) -> Judge:
    contender_fields = {
        key: fields.pop(key) for key in ("paused_until", "consecutive_failures") if key in fields
    }
    contender = ContenderFactory(
        name="Judge",
        stream=False,
        base_url="http://judge.test/v1",
        model_id="judge-model",
        sampling_weight=0,
        **contender_fields,
    )
    judge, _ = judge_save(contender=contender, **fields)
    return judge


def battle_of(
    *, language: str = "en", question: str = QUESTION, answer_a: str = ANSWER_A, answer_b: str = ANSWER_B
) -> Battle:
    asked = QuestionFactory(text=question, language=language)
    a, b = ContenderFactory(), ContenderFactory()
    return BattleFactory(
        question=asked,
        contender_a=a,
        contender_b=b,
        answer_a=AnswerFactory(question=asked, contender=a, text=answer_a),
        answer_b=AnswerFactory(question=asked, contender=b, text=answer_b),
    )


def verdicts_of(judge: Judge, battle: Battle) -> tuple[Verdict, Verdict]:
    """Both orders of a battle, as the schedule makes them."""
    made = [verdict_make(judge, battle, order) for order in ("shown", "swapped")]
    return made[0], made[1]


def sent(call) -> dict:
    return json.loads(call.request.content)


def filled(template: str, question: str, first: str, second: str) -> str:
    """The template filled in by plain replacement (the texts here hold no placeholders)."""
    return template.replace("{question}", question).replace("{answer_a}", first).replace("{answer_b}", second)


def calls_today(judge: Judge) -> int | None:
    return JudgeDay.objects.filter(judge=judge).values_list("calls", flat=True).first()


# --- A parsed reply --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question_language", "prompt_language"),
    [("en", "en"), ("zh", "zh-hans"), ("zh-Hans", "zh-hans"), ("fr", "en")],
)
@respx.mock
def test_a_parsed_reply_is_stored_with_the_prompt_of_the_question_language(
    question_language, prompt_language
):
    judge = judge_of()
    shown, _ = verdicts_of(judge, battle_of(language=question_language))
    prompt = current_prompt(prompt_language)
    route = respx.post(URL).mock(return_value=reply("Paris is right; Lyon is not.\n\n[[A>>B]]"))

    outcome = verdict_judge(verdict_id=shown.pk)

    assert outcome.status == "done"
    shown.refresh_from_db()
    assert (shown.status, shown.score, shown.label, shown.reply) == (
        "done",
        2,
        "A>>B",
        "Paris is right; Lyon is not.\n\n[[A>>B]]",
    )
    assert (shown.prompt.language, shown.prompt.version, shown.prompt_id) == (prompt_language, 1, prompt.pk)
    assert (shown.attempts, shown.unparseable_replies, shown.error) == (1, 0, "")
    assert (shown.claim_token, shown.lease_expires_at, shown.retry_at) == (None, None, None)
    assert shown.finished_at is not None and shown.latency_ms is not None
    system_text, template = DEFAULT_PROMPTS[prompt_language]
    assert (prompt.system_text, prompt.template) == (system_text, template)
    body = sent(route.calls.last)
    assert body["model"] == "judge-model"
    assert body["messages"] == [
        {"role": "system", "content": system_text},
        {"role": "user", "content": filled(template, QUESTION, ANSWER_A, ANSWER_B)},
    ]
    assert route.call_count == 1
    assert calls_today(judge) == 1


@respx.mock
def test_the_swapped_order_shows_answer_b_first_and_its_score_is_negated():
    judge = judge_of()
    shown, swapped = verdicts_of(judge, battle_of())
    route = respx.post(URL).mock(side_effect=[reply("[[A>B]]"), reply("I prefer the first. [[A>>B]]")])

    assert verdict_judge(verdict_id=shown.pk).status == "done"
    assert verdict_judge(verdict_id=swapped.pk).status == "done"

    _, template = DEFAULT_PROMPTS["en"]
    first, second = route.calls
    assert sent(first)["messages"][1]["content"] == filled(template, QUESTION, ANSWER_A, ANSWER_B)
    assert sent(second)["messages"][1]["content"] == filled(template, QUESTION, ANSWER_B, ANSWER_A)
    shown.refresh_from_db()
    swapped.refresh_from_db()
    # The score is in the battle's orientation; the label is what the judge wrote.
    assert (shown.score, shown.label) == (1, "A>B")
    assert (swapped.score, swapped.label) == (-2, "A>>B")
    assert calls_today(judge) == 2


@respx.mock
def test_braces_and_placeholders_inside_the_texts_reach_the_judge_untouched():
    question = "Format {name} with str.format?"
    answer_a = "Use '{answer_b}'.format(answer_b=1) or f'{x}' and {{escaped}}."
    answer_b = 'json: {"question": "{question}"}'
    judge = judge_of()
    shown, swapped = verdicts_of(judge, battle_of(question=question, answer_a=answer_a, answer_b=answer_b))
    route = respx.post(URL).mock(return_value=reply("[[A=B]]"))

    verdict_judge(verdict_id=shown.pk)
    verdict_judge(verdict_id=swapped.pk)

    _, template = DEFAULT_PROMPTS["en"]
    head, rest = template.split("{question}")
    middle, rest = rest.split("{answer_a}")
    between, tail = rest.split("{answer_b}")
    as_shown, as_swapped = (sent(call)["messages"][1]["content"] for call in route.calls)
    assert as_shown == head + question + middle + answer_a + between + answer_b + tail
    assert as_swapped == head + question + middle + answer_b + between + answer_a + tail
    shown.refresh_from_db()
    swapped.refresh_from_db()
    assert (shown.status, shown.score, swapped.status, swapped.score) == ("done", 0, "done", 0)


@respx.mock
def test_a_long_reply_is_cut_for_storage_but_its_final_verdict_still_counts():
    judge = judge_of()
    shown, _ = verdicts_of(judge, battle_of())
    reasoning = "Let me weigh both answers carefully. " * 300  # 11,100 characters
    route = respx.post(URL).mock(return_value=reply(reasoning + "\n\n[[B>A]]"))

    outcome = verdict_judge(verdict_id=shown.pk)

    assert route.call_count == 1
    shown.refresh_from_db()
    # The prompt asks for the verdict on the last line: a judge that reasons at length puts it last.
    assert (outcome.status, shown.status, shown.score, shown.label) == ("done", "done", -1, "B>A")
    assert shown.reply == reasoning[:REPLY_MAX_CHARS]


# --- The budget and pauses -------------------------------------------------------------------------


@respx.mock
def test_a_spent_budget_leaves_the_verdict_waiting_for_the_next_day():
    judge = judge_of(daily_call_budget=1)
    shown, swapped = verdicts_of(judge, battle_of())
    route = respx.post(URL).mock(return_value=reply("[[A>B]]"))

    assert verdict_judge(verdict_id=shown.pk).status == "done"
    outcome = verdict_judge(verdict_id=swapped.pk)

    assert outcome.status == "budget_spent"
    assert route.call_count == 1
    day = JudgeDay.objects.get(judge=judge)
    assert day.calls == 1
    swapped.refresh_from_db()
    assert (swapped.status, swapped.attempts, swapped.claim_token, swapped.lease_expires_at) == (
        "pending",
        0,
        None,
        None,
    )
    assert (swapped.score, swapped.reply, swapped.prompt_id) == (None, "", None)
    next_midnight = dt.datetime.combine(day.day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    assert swapped.retry_at == next_midnight


@respx.mock
def test_a_zero_budget_calls_nothing():
    judge = judge_of(daily_call_budget=0)
    shown, _ = verdicts_of(judge, battle_of())
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(return_value=reply("[[A>B]]"))
        assert verdict_judge(verdict_id=shown.pk).status == "budget_spent"
    assert not route.called
    shown.refresh_from_db()
    assert (shown.status, shown.attempts) == ("pending", 0)
    assert shown.retry_at is not None and (shown.retry_at.hour, shown.retry_at.minute) == (0, 0)
    assert calls_today(judge) is None


def test_a_paused_judge_is_not_called():
    judge = judge_of(is_active=False)
    shown, _ = verdicts_of(judge, battle_of())
    before = Verdict.objects.filter(pk=shown.pk).values().get()
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(return_value=reply("[[A>B]]"))
        assert verdict_judge(verdict_id=shown.pk).status == "judge_paused"
    assert not route.called
    assert Verdict.objects.filter(pk=shown.pk).values().get() == before
    assert calls_today(judge) is None


def test_a_paused_contender_is_not_called_and_the_verdict_waits_for_its_probe():
    paused_until = timezone.now() + dt.timedelta(minutes=30)
    judge = judge_of(paused_until=paused_until)
    shown, _ = verdicts_of(judge, battle_of())
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(return_value=reply("[[A>B]]"))
        outcome = verdict_judge(verdict_id=shown.pk, rng=random.Random(7))
    assert not route.called
    jitter = random.Random(7).uniform(0, 5)
    assert outcome.status == "deferred"
    shown.refresh_from_db()
    assert (shown.status, shown.attempts) == ("pending", 0)
    # Retried when the pause ends, plus the jitter drawn from the generator.
    assert abs(shown.retry_at - (paused_until + dt.timedelta(seconds=jitter))) < dt.timedelta(milliseconds=1)
    assert calls_today(judge) is None


def test_a_verdict_that_is_not_pending_is_skipped():
    judge = judge_of()
    shown, swapped = verdicts_of(judge, battle_of())
    Verdict.objects.filter(pk=shown.pk).update(status=Verdict.Status.RUNNING)
    Verdict.objects.filter(pk=swapped.pk).update(status=Verdict.Status.DONE, score=1)
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(return_value=reply("[[A>B]]"))
        assert verdict_judge(verdict_id=shown.pk).status == "skipped"
        assert verdict_judge(verdict_id=swapped.pk).status == "skipped"
        assert verdict_judge(verdict_id=swapped.pk + 1000).status == "skipped"
    assert not route.called
    assert calls_today(judge) is None


# --- Failures --------------------------------------------------------------------------------------


@respx.mock
def test_a_server_error_is_retried_and_counts_against_the_contender(django_capture_on_commit_callbacks):
    judge = judge_of()
    shown, _ = verdicts_of(judge, battle_of())
    route = respx.post(URL).mock(return_value=httpx.Response(500, json={"error": {"message": "overloaded"}}))

    with django_capture_on_commit_callbacks() as callbacks:
        outcome = verdict_judge(verdict_id=shown.pk, rng=random.Random(1))

    assert (outcome.status, route.call_count) == ("retrying", 1)
    assert len(callbacks) == 1  # the retry is queued
    shown.refresh_from_db()
    assert (shown.status, shown.attempts, shown.score, shown.claim_token) == ("pending", 1, None, None)
    assert "500" in shown.error and "overloaded" in shown.error
    assert shown.retry_at is not None and shown.finished_at is None
    assert shown.prompt == current_prompt("en")
    contender = Contender.objects.get(pk=judge.contender_id)
    assert contender.consecutive_failures == 1 and "overloaded" in contender.last_error
    assert calls_today(judge) == 1


@respx.mock
def test_a_bad_request_fails_the_verdict_without_blaming_the_contender():
    judge = judge_of()
    shown, _ = verdicts_of(judge, battle_of())
    route = respx.post(URL).mock(
        return_value=httpx.Response(400, json={"error": {"message": "context length exceeded"}})
    )

    outcome = verdict_judge(verdict_id=shown.pk)

    assert (outcome.status, route.call_count) == ("failed", 1)
    shown.refresh_from_db()
    assert (shown.status, shown.attempts, shown.score) == ("failed", 1, None)
    assert "context length exceeded" in shown.error and shown.finished_at is not None
    contender = Contender.objects.get(pk=judge.contender_id)
    assert (contender.consecutive_failures, contender.last_error) == (0, "")


@respx.mock
def test_a_success_clears_the_contenders_failure_streak():
    judge = judge_of(consecutive_failures=2)
    shown, _ = verdicts_of(judge, battle_of())
    respx.post(URL).mock(return_value=reply("[[B>>A]]"))
    assert verdict_judge(verdict_id=shown.pk).status == "done"
    contender = Contender.objects.get(pk=judge.contender_id)
    assert contender.consecutive_failures == 0 and contender.last_success_at is not None


# --- Unparseable replies ---------------------------------------------------------------------------


@respx.mock
def test_an_unparseable_reply_is_asked_again_once_then_recorded(django_capture_on_commit_callbacks):
    judge = judge_of()
    shown, _ = verdicts_of(judge, battle_of())
    first_reply = "Both answers have merit."
    second_reply = "Maybe [[A>B]], maybe [[B>A]]."
    route = respx.post(URL).mock(side_effect=[reply(first_reply), reply(second_reply)])

    with django_capture_on_commit_callbacks() as callbacks:
        assert verdict_judge(verdict_id=shown.pk).status == "asked_again"
    assert len(callbacks) == 1
    shown.refresh_from_db()
    assert (shown.status, shown.attempts, shown.unparseable_replies, shown.reply, shown.score) == (
        "pending",
        1,
        1,
        first_reply,
        None,
    )
    assert shown.error == "the reply holds no single verdict such as [[A>B]]: asked again"
    assert shown.finished_at is None

    with django_capture_on_commit_callbacks() as callbacks:
        assert verdict_judge(verdict_id=shown.pk).status == "unparseable"
    assert callbacks == []
    shown.refresh_from_db()
    assert (shown.status, shown.attempts, shown.unparseable_replies, shown.reply, shown.score) == (
        "unparseable",
        2,
        2,
        second_reply,
        None,
    )
    assert shown.error == "the reply holds no single verdict such as [[A>B]], twice"
    assert shown.finished_at is not None and shown.label == ""
    assert route.call_count == 2
    assert calls_today(judge) == 2
    # Recorded: never asked again.
    assert verdict_judge(verdict_id=shown.pk).status == "skipped"
    assert route.call_count == 2


@respx.mock
def test_an_unparseable_reply_then_a_verdict_is_done():
    judge = judge_of()
    _, swapped = verdicts_of(judge, battle_of())
    respx.post(URL).mock(side_effect=[reply("Hmm."), reply("On reflection [[B>A]]")])
    assert verdict_judge(verdict_id=swapped.pk).status == "asked_again"
    assert verdict_judge(verdict_id=swapped.pk).status == "done"
    swapped.refresh_from_db()
    assert (swapped.status, swapped.score, swapped.label, swapped.attempts, swapped.unparseable_replies) == (
        "done",
        1,
        "B>A",
        2,
        1,
    )
    assert (swapped.reply, swapped.error) == ("On reflection [[B>A]]", "")


# --- Prompt versions -------------------------------------------------------------------------------


@respx.mock
def test_a_new_prompt_version_is_used_and_recorded_from_the_next_verdict_on():
    judge = judge_of()
    first_battle, second_battle = battle_of(), battle_of(question="Why is the sky blue?")
    shown, _ = verdicts_of(judge, first_battle)
    later, later_swapped = verdicts_of(judge, second_battle)
    route = respx.post(URL).mock(return_value=reply("[[A>B]]"))
    assert verdict_judge(verdict_id=shown.pk).status == "done"
    default = current_prompt("en")

    newer = judge_prompt_create(
        language="en",
        template="Q: {question}\n1: {answer_a}\n2: {answer_b}\nVerdict?",
        system_text="Be strict.",
        note="terse",
        created_by="staff",
    )
    assert newer.version == 2
    assert verdict_judge(verdict_id=later.pk).status == "done"
    newest = judge_prompt_create(language="en", template="{answer_b} | {answer_a} | {question}")
    assert newest.version == 3
    assert verdict_judge(verdict_id=later_swapped.pk).status == "done"

    assert [sent(call)["messages"] for call in route.calls][1:] == [
        [
            {"role": "system", "content": "Be strict."},
            {
                "role": "user",
                "content": f"Q: Why is the sky blue?\n1: {ANSWER_A}\n2: {ANSWER_B}\nVerdict?",
            },
        ],
        # Without a system text, the user message alone.
        [{"role": "user", "content": f"{ANSWER_A} | {ANSWER_B} | Why is the sky blue?"}],
    ]
    recorded = dict(Verdict.objects.filter(status="done").values_list("pk", "prompt__version"))
    assert recorded == {shown.pk: 1, later.pk: 2, later_swapped.pk: 3}
    assert default.version == 1
    # A Chinese question still gets the Chinese prompt's newest version (1 here).
    chinese, _ = verdicts_of(judge, battle_of(language="zh", question="天空为什么是蓝色的？"))
    assert verdict_judge(verdict_id=chinese.pk).status == "done"
    chinese.refresh_from_db()
    assert (chinese.prompt.language, chinese.prompt.version) == ("zh-hans", 1)
    assert JudgePrompt.objects.filter(language="zh-hans").count() == 1


@pytest.mark.django_db(transaction=True)
def test_calls_racing_for_the_budget_take_exactly_the_budget():
    """Twelve threads ask for a call at once from a budget of five: five get one, and the day counts
    five (the budget is taken in one statement; a check then an insert would let more through)."""
    import threading

    from django.db import connection as default_connection

    from judges.models import JudgeDay
    from judges.services.judging import _budget_take

    contender = ContenderFactory(stream=False)
    judge, _ = judge_save(contender=contender, daily_call_budget=5)
    today = timezone.now().date()
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def take() -> None:
        barrier.wait()
        try:
            results.append(_budget_take(judge.pk, 5, today))
        finally:
            default_connection.close()

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True] * 5
    assert JudgeDay.objects.get(judge=judge, day=today).calls == 5


@pytest.mark.django_db
def test_staff_see_the_verdicts_newest_first_with_their_battle(admin_client):
    judge = judge_of()
    older, newer = battle_of(), battle_of(question="Another question?")
    verdicts_of(judge, older)
    verdicts_of(judge, newer)
    admin_client.cookies["arena_language"] = "en"
    page = admin_client.get("/admin/judges/verdict/")
    assert page.status_code == 200
    shown = [(verdict.battle_id, verdict.order) for verdict in page.context["cl"].result_list]
    assert shown == [(newer.pk, "swapped"), (newer.pk, "shown"), (older.pk, "swapped"), (older.pk, "shown")]
    html = page.content.decode()
    assert '<th scope="col" class="sortable column-battle_number">' in html and ">Battle</a>" in html
    with translation.override("zh-hans"):
        assert str(Verdict._meta.verbose_name) == "评判"  # not the voters' 判断
