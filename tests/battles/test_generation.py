import datetime as dt
import random
import uuid
from pathlib import Path

import httpx
import pytest
import respx
from django.utils import timezone

from battles import endpoint_client
from battles.limits import concurrency_slots
from battles.models import Answer, AnswerAttempt, Battle, Contender
from battles.rendering import storable_text
from battles.services.generation import (
    answer_generate,
    contender_cache_clear,
    contender_cached,
    retry_delay_seconds,
)
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, OfflineContenderFactory

pytestmark = pytest.mark.django_db

URL = "http://models.test/v1/chat/completions"


def completion(content: str) -> dict:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def pending_battle(**contender_fields) -> tuple[Battle, Answer]:
    """A battle whose answer A is done and answer B waits for the endpoint."""
    contender_fields.setdefault("stream", False)
    battle = BattleFactory(
        status=Battle.Status.GENERATING, ready_at=None, contender_b=ContenderFactory(**contender_fields)
    )
    Answer.objects.filter(pk=battle.answer_b_id).update(
        status=Answer.Status.PENDING, text="", html="", seed=42
    )
    return battle, Answer.objects.get(pk=battle.answer_b_id)


@respx.mock
def test_answer_is_fetched_rendered_recorded_and_battle_becomes_ready():
    battle, answer = pending_battle(
        temperature=0.7,
        max_tokens=256,
        system_prompt="Be brief.",
        stop=["</s>"],
        extra_headers={"X-Team": "arena"},
    )
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("**Forty-two**")))

    outcome = answer_generate(answer_id=answer.pk)

    assert outcome.status == "done"
    answer.refresh_from_db()
    assert answer.status == Answer.Status.DONE
    assert (answer.text, answer.html) == ("**Forty-two**", "<p><strong>Forty-two</strong></p>\n")
    assert (answer.prompt_tokens, answer.completion_tokens, answer.finish_reason) == (5, 7, "stop")
    assert answer.attempts == 1 and answer.latency_ms is not None and answer.finished_at is not None
    assert (answer.claim_token, answer.lease_expires_at, answer.is_truncated) == (None, None, False)
    assert answer.parameters == {
        "model": battle.contender_b.model_id,
        "temperature": 0.7,
        "max_tokens": 256,
        "stop": ["</s>"],
        "seed": 42,
        "stream": False,
    }
    sent = route.calls.last.request
    assert sent.headers["X-Team"] == "arena"
    body = httpx.Response(200, content=sent.content).json()
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": battle.question.text},
    ]
    assert body["seed"] == 42
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY and battle.ready_at is not None
    [attempt] = AnswerAttempt.objects.filter(answer=answer)
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "succeeded", 200)
    contender = Contender.objects.get(pk=battle.contender_b_id)
    assert contender.consecutive_failures == 0 and contender.last_success_at is not None


@respx.mock
def test_api_key_and_header_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_MODEL_API_KEY", "sk-secret")
    monkeypatch.setenv("GATEWAY_TOKEN", "gw-secret")
    _, answer = pending_battle(
        api_key_env="TEST_MODEL_API_KEY", extra_headers={"X-Gateway": "Bearer ${GATEWAY_TOKEN}"}
    )
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("hi")))
    answer_generate(answer_id=answer.pk)
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == "Bearer sk-secret" and headers["X-Gateway"] == "Bearer gw-secret"
    answer.refresh_from_db()
    assert "sk-secret" not in str(answer.parameters) and "gw-secret" not in str(answer.parameters)


@pytest.mark.parametrize(
    ("fields", "error_fragment"),
    [
        ({"api_key_env": "ABSENT_MODEL_API_KEY"}, "ABSENT_MODEL_API_KEY"),
        ({"extra_headers": {"X-Key": "${SECRET_KEY}"}}, "only names ending in _API_KEY or _TOKEN"),
    ],
)
def test_unusable_secrets_fail_the_answer_without_a_call(monkeypatch, fields, error_fragment):
    monkeypatch.delenv("ABSENT_MODEL_API_KEY", raising=False)
    _, answer = pending_battle(**fields)
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL)
        answer_generate(answer_id=answer.pk)
    assert not route.called
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED and error_fragment in answer.error


@pytest.mark.parametrize(
    ("response", "error_fragment"),
    [
        (httpx.Response(404, json={"error": {"message": "model not found"}}), "model not found"),
        (httpx.Response(401, json={"error": {"message": "bad key"}}), "bad key"),
        (httpx.Response(200, text="not json", headers={"Content-Type": "application/json"}), "JSON"),
        (httpx.Response(200, json={"choices": []}), "chat completion"),
    ],
)
@respx.mock
def test_permanent_failures_fail_at_once_and_retire_the_battle(response, error_fragment):
    battle, answer = pending_battle()
    route = respx.post(URL).mock(return_value=response)
    assert answer_generate(answer_id=answer.pk).status == "failed"
    assert route.call_count == 1
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED and error_fragment in answer.error and answer.text == ""
    battle.refresh_from_db()
    assert battle.status == Battle.Status.RETIRED and battle.retired_reason == f"answer {answer.pk} failed"
    [attempt] = AnswerAttempt.objects.filter(answer=answer)
    assert attempt.outcome == AnswerAttempt.Outcome.PERMANENT_ERROR and error_fragment in attempt.error


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"error": {"message": "CUDA out of memory"}}),
        httpx.Response(503, text="busy"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
    ],
)
def test_retryable_failures_are_retried_with_backoff_then_succeed(
    failure, settings, django_capture_on_commit_callbacks
):
    settings.ARENA_GENERATION_RETRY_BASE_SECONDS = 2
    battle, answer = pending_battle()
    with respx.mock() as router:
        route = router.post(URL)
        route.side_effect = [failure, httpx.Response(200, json=completion("at last"))]
        with django_capture_on_commit_callbacks(execute=False) as scheduled:
            assert answer_generate(answer_id=answer.pk, rng=random.Random(0)).status == "retrying"
        assert len(scheduled) == 1
        answer.refresh_from_db()
        assert answer.status == Answer.Status.PENDING and answer.retry_at is not None and answer.error
        battle.refresh_from_db()
        assert battle.status == Battle.Status.GENERATING  # still waiting, not retired
        assert answer_generate(answer_id=answer.pk).status == "done"
    answer.refresh_from_db()
    assert (answer.status, answer.text, answer.attempts, answer.error) == (
        Answer.Status.DONE,
        "at last",
        2,
        "",
    )
    attempts = list(AnswerAttempt.objects.filter(answer=answer).values_list("number", "outcome"))
    assert attempts == [(1, "retryable_error"), (2, "succeeded")]
    first = AnswerAttempt.objects.get(answer=answer, number=1)
    assert 1.0 <= first.retry_in_seconds <= 2.0


@respx.mock
def test_retries_stop_at_the_attempt_limit(settings, django_capture_on_commit_callbacks):
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 3
    battle, answer = pending_battle()
    respx.post(URL).mock(return_value=httpx.Response(502, text="bad gateway"))
    outcomes = [answer_generate(answer_id=answer.pk).status for _ in range(4)]
    assert outcomes == ["retrying", "retrying", "failed", "skipped"]
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED and answer.attempts == 3
    battle.refresh_from_db()
    assert battle.status == Battle.Status.RETIRED


@respx.mock
def test_retry_after_is_honoured_within_the_cap(settings):
    settings.ARENA_GENERATION_RETRY_MAX_SECONDS = 30
    _, answer = pending_battle()
    respx.post(URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
    )
    answer_generate(answer_id=answer.pk, rng=random.Random(0))
    assert AnswerAttempt.objects.get(answer=answer).retry_in_seconds == 7.0


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.ARENA_GENERATION_RETRY_BASE_SECONDS = 2
    settings.ARENA_GENERATION_RETRY_MAX_SECONDS = 20
    rng = random.Random(3)
    for attempt, (low, high) in enumerate([(1, 2), (2, 4), (4, 8), (8, 16), (10, 20), (10, 20)], start=1):
        delays = [retry_delay_seconds(attempt=attempt, retry_after_seconds=None, rng=rng) for _ in range(50)]
        assert low <= min(delays) and max(delays) <= high and len(set(delays)) > 40
    assert retry_delay_seconds(attempt=1, retry_after_seconds=600, rng=rng) == 20


@respx.mock
def test_a_late_result_after_the_claim_was_taken_back_is_dropped():
    _, answer = pending_battle()

    def sweeper_takes_it_back(request):
        # Meanwhile the lease ran out, the sweeper returned the answer and another worker claimed it.
        Answer.objects.filter(pk=answer.pk).update(claim_token=uuid.uuid4())
        return httpx.Response(200, json=completion("late"))

    respx.post(URL).mock(side_effect=sweeper_takes_it_back)
    assert answer_generate(answer_id=answer.pk).status == "claim_lost"
    answer.refresh_from_db()
    assert answer.status == Answer.Status.RUNNING and answer.text == ""
    assert not AnswerAttempt.objects.filter(answer=answer).exists()


@respx.mock
def test_answer_already_claimed_is_left_alone():
    _, answer = pending_battle()
    Answer.objects.filter(pk=answer.pk).update(status=Answer.Status.RUNNING)
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("late")))
    assert answer_generate(answer_id=answer.pk).status == "skipped"
    assert not route.called
    answer.refresh_from_db()
    assert answer.status == Answer.Status.RUNNING and answer.attempts == 0


@respx.mock
def test_a_paused_contender_defers_its_answers_without_calling(settings):
    from django.utils import timezone

    _, answer = pending_battle(paused_until=timezone.now() + timezone.timedelta(seconds=60))
    paused_until = Contender.objects.get(pk=answer.contender_id).paused_until
    route = respx.post(URL)
    before = timezone.now()
    outcome = answer_generate(answer_id=answer.pk, rng=random.Random(0))
    after = timezone.now()
    # Until the pause ends, as of the moment it was checked (between these two), plus the jitter.
    jitter = random.Random(0).uniform(0, 5)
    assert outcome.status == "deferred"
    assert (
        (paused_until - after).total_seconds() + jitter
        <= outcome.retry_in_seconds
        <= (paused_until - before).total_seconds() + jitter
    )
    assert not route.called
    answer.refresh_from_db()
    assert answer.status == Answer.Status.PENDING and answer.attempts == 0


@respx.mock
def test_a_contender_at_its_concurrency_limit_defers_the_answer():
    _, answer = pending_battle(max_concurrent_requests=1)
    slots = concurrency_slots()
    held = slots.acquire(f"contender:{answer.contender_id}", limit=1, lease_seconds=30)
    assert held is not None
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("x")))
    outcome = answer_generate(answer_id=answer.pk, rng=random.Random(0))
    assert outcome.status == "deferred" and 0.5 <= outcome.retry_in_seconds <= 1.5
    assert not route.called
    slots.release(f"contender:{answer.contender_id}", held)
    assert answer_generate(answer_id=answer.pk).status == "done"
    assert slots.in_use(f"contender:{answer.contender_id}") == 0


def test_offline_contender_answer_cannot_be_generated():
    answer = AnswerFactory(contender=OfflineContenderFactory(), status=Answer.Status.PENDING, text="")
    answer_generate(answer_id=answer.pk)
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED and "offline contender" in answer.error


@respx.mock
def test_failures_in_a_row_pause_the_contender_but_request_specific_ones_do_not(settings):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 2
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 1
    contender = ContenderFactory(stream=False)
    answers = [AnswerFactory(contender=contender, status=Answer.Status.PENDING, text="") for _ in range(3)]
    respx.post(URL).mock(return_value=httpx.Response(400, json={"error": {"message": "prompt too long"}}))
    answer_generate(answer_id=answers[0].pk)
    contender.refresh_from_db()
    assert contender.consecutive_failures == 0 and contender.paused_until is None
    respx.post(URL).mock(return_value=httpx.Response(503, text="down"))
    answer_generate(answer_id=answers[1].pk)
    answer_generate(answer_id=answers[2].pk)
    contender.refresh_from_db()
    assert contender.consecutive_failures == 2 and contender.paused_until is not None


@respx.mock
def test_text_the_database_cannot_hold_is_repaired_and_recorded():
    battle, answer = pending_battle()
    # NUL characters, as a real llama.cpp server streamed them, and bytes that are not UTF-8.
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"a\\u0000b \xff c"},'
    body += b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":3}}'
    respx.post(URL).mock(return_value=httpx.Response(200, content=body))

    assert answer_generate(answer_id=answer.pk).status == "done"

    answer.refresh_from_db()
    assert (answer.status, answer.text) == (Answer.Status.DONE, "ab \ufffd c")
    assert answer.repairs == "text: 1 NUL character removed"
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.READY


def test_lone_surrogates_are_replaced_and_counted():
    text, repairs = storable_text("ok \ud800 and \udfff")
    assert (text, repairs) == ("ok \ufffd and \ufffd", "2 lone surrogates replaced")
    assert storable_text("fine") == ("fine", "")


@respx.mock
def test_an_answer_the_database_refuses_is_a_failed_attempt_not_a_crash():
    battle, answer = pending_battle()
    # A server that counts tokens past any integer column: PostgreSQL refuses the row (a DataError).
    body = {**completion("fine"), "usage": {"prompt_tokens": 5, "completion_tokens": 2**40}}
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))

    assert answer_generate(answer_id=answer.pk).status == "failed"

    answer.refresh_from_db()
    assert (answer.status, answer.claim_token) == (Answer.Status.FAILED, None)
    assert "could not be stored" in answer.error
    attempt = AnswerAttempt.objects.get(answer=answer)
    assert attempt.outcome == AnswerAttempt.Outcome.PERMANENT_ERROR
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.RETIRED


@respx.mock
def test_an_empty_answer_never_reaches_voters_and_is_asked_again_with_a_new_seed():
    battle, answer = pending_battle(seed=None)
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(200, json=completion(" \n ")),
            httpx.Response(200, json=completion("Forty-two")),
        ]
    )

    assert answer_generate(answer_id=answer.pk).status == "retrying"

    retried = Answer.objects.get(pk=answer.pk)
    assert retried.status == Answer.Status.PENDING and retried.seed != 42
    assert "empty answer" in retried.error
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.GENERATING
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 0
    assert AnswerAttempt.objects.get(answer=answer).outcome == AnswerAttempt.Outcome.RETRYABLE_ERROR
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)

    assert answer_generate(answer_id=answer.pk).status == "done"
    assert Answer.objects.get(pk=answer.pk).text == "Forty-two"
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.READY


@respx.mock
def test_an_empty_answer_from_a_contender_with_a_fixed_seed_fails_and_its_battle_is_retired():
    battle, answer = pending_battle(seed=7)
    respx.post(URL).mock(return_value=httpx.Response(200, json=completion("")))

    assert answer_generate(answer_id=answer.pk).status == "failed"

    failed = Answer.objects.get(pk=answer.pk)
    assert (failed.status, failed.seed, failed.text) == (Answer.Status.FAILED, 42, "")
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.RETIRED


FIXTURES = Path(__file__).parent / "fixtures" / "endpoints"


def llamacpp(name: str, status: int = 200) -> httpx.Response:
    content_type = "text/event-stream" if name.endswith(".sse") else "application/json"
    return httpx.Response(
        status, content=(FIXTURES / name).read_bytes(), headers={"content-type": content_type}
    )


def attempts_of(answer: Answer) -> list[tuple[str, int | None]]:
    return list(AnswerAttempt.objects.filter(answer=answer).values_list("outcome", "seed"))


@respx.mock
def test_an_error_event_mid_stream_is_asked_again_with_a_new_seed_at_once():
    battle, answer = pending_battle(seed=None, stream=True)
    respx.post(URL).mock(
        side_effect=[llamacpp("llamacpp_stream_error_event.sse"), llamacpp("llamacpp_stream_timings.sse")]
    )

    assert answer_generate(answer_id=answer.pk).status == "retrying"

    retried = Answer.objects.get(pk=answer.pk)
    assert retried.seed != 42 and "invalid UTF-8 byte" in retried.error
    assert attempts_of(answer) == [(AnswerAttempt.Outcome.RETRYABLE_ERROR, 42)]
    # The first in-band error still counts against the contender: a server failing mid-stream is unwell.
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 1
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)

    assert answer_generate(answer_id=answer.pk).status == "done"
    done = Answer.objects.get(pk=answer.pk)
    assert done.text == "The Pearl River." and done.parameters["seed"] == retried.seed
    assert attempts_of(answer)[1] == (AnswerAttempt.Outcome.SUCCEEDED, retried.seed)


@respx.mock
def test_an_error_event_that_repeats_on_a_fixed_seed_fails_at_the_repeat():
    battle, answer = pending_battle(seed=42, stream=True)
    respx.post(URL).mock(return_value=llamacpp("llamacpp_stream_error_event.sse"))

    assert answer_generate(answer_id=answer.pk).status == "retrying"
    assert Answer.objects.get(pk=answer.pk).seed == 42  # the seed is the contender's: kept
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)
    assert answer_generate(answer_id=answer.pk).status == "failed"

    failed = Answer.objects.get(pk=answer.pk)
    assert failed.status == Answer.Status.FAILED and failed.attempts == 2
    assert "the same error as the previous attempt on the same seed" in failed.error
    assert attempts_of(answer) == [
        (AnswerAttempt.Outcome.RETRYABLE_ERROR, 42),
        (AnswerAttempt.Outcome.PERMANENT_ERROR, 42),
    ]
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.RETIRED
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 1  # the repeat is not


@respx.mock
def test_a_5xx_that_repeats_with_the_same_body_on_the_same_seed_gets_a_new_seed():
    battle, answer = pending_battle(seed=None)
    same = {"error": {"message": "failed to decode token 0xE6", "type": "server_error", "code": 500}}
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(500, json=same),
            httpx.Response(500, json=same),
            httpx.Response(200, json=completion("Forty-two")),
        ]
    )

    assert answer_generate(answer_id=answer.pk).status == "retrying"
    assert Answer.objects.get(pk=answer.pk).seed == 42  # once may be bad luck: the same seed again
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)
    assert answer_generate(answer_id=answer.pk).status == "retrying"
    reseeded = Answer.objects.get(pk=answer.pk)
    assert reseeded.seed != 42
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)
    assert answer_generate(answer_id=answer.pk).status == "done"

    assert [seed for _, seed in attempts_of(answer)] == [42, 42, reseeded.seed]
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 0  # reset by the success


@respx.mock
def test_different_5xx_bodies_are_plain_retries_on_the_same_seed():
    battle, answer = pending_battle(seed=None)
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "Loading model", "code": 503}}),
            httpx.Response(503, json={"error": {"message": "Slot unavailable", "code": 503}}),
        ]
    )

    for _ in range(2):
        assert answer_generate(answer_id=answer.pk).status == "retrying"
        Answer.objects.filter(pk=answer.pk).update(retry_at=None)

    assert Answer.objects.get(pk=answer.pk).seed == 42
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 2


@respx.mock
def test_the_servers_own_timings_are_stored_beside_the_client_latency():
    _, answer = pending_battle(stream=True)
    respx.post(URL).mock(return_value=llamacpp("llamacpp_stream_timings.sse"))

    assert answer_generate(answer_id=answer.pk).status == "done"

    done = Answer.objects.get(pk=answer.pk)
    assert (done.server_queue_ms, done.server_prompt_ms, done.server_generation_ms) == (None, 2.6, 21.3)
    assert done.latency_ms is not None and done.first_token_ms is not None


@respx.mock
def test_a_nul_streamed_by_llamacpp_is_removed_and_the_answer_is_done():
    battle, answer = pending_battle(stream=True)
    respx.post(URL).mock(return_value=llamacpp("llamacpp_stream_nul.sse"))

    assert answer_generate(answer_id=answer.pk).status == "done"

    done = Answer.objects.get(pk=answer.pk)
    assert (done.text, done.repairs) == ("Rivers of China: the Yangtze.", "text: 1 NUL character removed")
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.READY


def test_a_worker_shutting_down_leaves_its_answers_unclaimed():
    _, answer = pending_battle()
    endpoint_client.calls_abort("the worker is shutting down")
    try:
        outcome = answer_generate(answer_id=answer.pk)
    finally:
        endpoint_client.calls_allow()

    assert outcome.status == "deferred" and outcome.retry_in_seconds is not None
    unclaimed = Answer.objects.get(pk=answer.pk)
    assert (unclaimed.status, unclaimed.attempts) == (Answer.Status.PENDING, 0)


@respx.mock
@pytest.mark.parametrize("attempts_before", [0, 4])  # 4: the call was the last attempt allowed (5)
def test_a_call_cancelled_by_shutdown_is_handed_back_without_spending_an_attempt(attempts_before):
    battle, answer = pending_battle()
    Answer.objects.filter(pk=answer.pk).update(attempts=attempts_before)

    def cancelled(request: httpx.Request) -> httpx.Response:
        endpoint_client.calls_abort("the worker is shutting down")
        raise httpx.ReadError("connection shut down")

    respx.post(URL).mock(side_effect=cancelled)
    try:
        assert answer_generate(answer_id=answer.pk).status == "handed_back"
    finally:
        endpoint_client.calls_allow()

    handed_back = Answer.objects.get(pk=answer.pk)
    assert (handed_back.status, handed_back.attempts) == (Answer.Status.PENDING, attempts_before)
    assert handed_back.claim_token is None and handed_back.retry_at is not None
    assert handed_back.error.endswith("was cancelled: the worker is shutting down")
    assert not AnswerAttempt.objects.filter(answer=answer).exists()
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.GENERATING
    assert Contender.objects.get(pk=battle.contender_b_id).consecutive_failures == 0


@respx.mock
def test_an_answer_of_nothing_but_nul_characters_is_empty_not_done():
    battle, answer = pending_battle(seed=None)
    respx.post(URL).mock(return_value=httpx.Response(200, json=completion("\x00\x00 \x00")))

    assert answer_generate(answer_id=answer.pk).status == "retrying"

    assert "empty answer" in Answer.objects.get(pk=answer.pk).error
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.GENERATING


@respx.mock
def test_a_restore_seen_by_another_process_is_not_hidden_by_its_cached_contender():
    battle, answer = pending_battle(paused_until=timezone.now() + dt.timedelta(minutes=3))
    contender_cache_clear()
    assert contender_cached(contender_id=battle.contender_b_id).paused_until is not None
    Contender.objects.filter(pk=battle.contender_b_id).update(paused_until=None)  # a probe restored it
    respx.post(URL).mock(return_value=httpx.Response(200, json=completion("Forty-two")))

    assert answer_generate(answer_id=answer.pk).status == "done"


@respx.mock
def test_an_answer_under_the_minimum_length_is_asked_again_like_an_empty_one(settings):
    settings.ARENA_ANSWER_MIN_CHARS = 10
    battle, answer = pending_battle(seed=None)
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(200, json=completion(" OK. ")),
            httpx.Response(200, json=completion("Forty-two, and here is why.")),
        ]
    )

    assert answer_generate(answer_id=answer.pk).status == "retrying"
    retried = Answer.objects.get(pk=answer.pk)
    assert retried.seed != 42
    assert retried.error.startswith("the model sent an answer of 3 characters, under the minimum of 10")
    Answer.objects.filter(pk=answer.pk).update(retry_at=None)

    assert answer_generate(answer_id=answer.pk).status == "done"
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.READY
