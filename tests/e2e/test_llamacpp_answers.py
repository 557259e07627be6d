"""What a real llama-server sends, through a real worker: a NUL inside a streamed answer, an empty
answer with finish_reason "stop", an error event mid-stream (an HTTP 400 without streaming). Every
answer ends done and clean or failed within the attempt limit, and no voter is served a battle that
holds an empty answer (real worker processes, the Redis broker, PostgreSQL, the local fault server
replaying llama-server's exact bytes from tests/battles/fixtures/endpoints/)."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from battles.models import Answer, AnswerAttempt, Battle
from battles.tasks import answer_generate_task
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, QuestionFactory
from tests.fault_server import SEEDED_FIXTURES, fault_server
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NUL, EMPTY, ERROR_EVENT, CLEAN = range(len(SEEDED_FIXTURES))  # what seed % 4 makes the server send


def pending_answer(question, contender, seed: int) -> Answer:
    return AnswerFactory(
        question=question, contender=contender, status=Answer.Status.PENDING, text="", html="", seed=seed
    )


def test_nul_empty_and_error_event_answers_end_done_or_failed_and_never_reach_voters():
    with fault_server() as server:
        common = {"base_url": server.base_url, "model_id": "llamacpp_by_seed"}
        streaming = ContenderFactory(name="llama-stream", stream=True, seed=None, **common)
        whole = ContenderFactory(name="llama-whole", stream=False, seed=None, **common)
        fixed = ContenderFactory(name="llama-fixed", stream=True, seed=4 + ERROR_EVENT, **common)
        battles = []
        for index in range(12):
            question = QuestionFactory()
            other, other_seed = (fixed, fixed.seed) if index % 4 == 3 else (whole, index + 1)
            battles.append(
                BattleFactory(
                    question=question,
                    contender_a=streaming,
                    contender_b=other,
                    answer_a=pending_answer(question, streaming, seed=index),
                    answer_b=pending_answer(question, other, seed=other_seed),
                    status=Battle.Status.GENERATING,
                    ready_at=None,
                )
            )
        environment = {
            "ARENA_POOL_TARGET": "0",
            "ARENA_GENERATION_RETRY_BASE_SECONDS": "0.2",
            "ARENA_GENERATION_RETRY_MAX_SECONDS": "1",
            "ARENA_CONTENDER_FAILURE_THRESHOLD": "100",  # pausing is tested on its own
        }
        with worker_process(**environment):
            for answer_id in Answer.objects.values_list("id", flat=True):
                answer_generate_task.delay(answer_id)
            wait_until(
                lambda: (
                    not Answer.objects.filter(
                        status__in=[Answer.Status.PENDING, Answer.Status.RUNNING]
                    ).exists()
                ),
                timeout_seconds=120,
                interval_seconds=0.2,
                message="answers still pending or running",
            )

    limit = settings.ARENA_GENERATION_MAX_ATTEMPTS
    answers = list(Answer.objects.order_by("id"))
    assert len(answers) == 24
    for answer in answers:
        assert answer.status in (Answer.Status.DONE, Answer.Status.FAILED)
        assert 1 <= answer.attempts <= limit
        assert AnswerAttempt.objects.filter(answer=answer).count() == answer.attempts
        if answer.status == Answer.Status.DONE:
            assert answer.text.strip() and "\x00" not in answer.text and answer.error == ""
    # Each case, as it came: the NUL removed and recorded; the empty answer and the error event asked
    # again with a new seed; the same error on a fixed seed failed at its repeat; the 400 at once.
    first_nul = next(
        a for a in answers if a.contender_id == streaming.pk and a.attempts == 1 and a.seed % 4 == NUL
    )
    assert (first_nul.status, first_nul.text) == (Answer.Status.DONE, "Rivers of China: the Yangtze.")
    assert first_nul.repairs == "text: 1 NUL character removed"
    assert first_nul.server_prompt_ms == 2.61 and first_nul.server_generation_ms == 41.7
    reseeded = [a for a in answers if a.contender_id in (streaming.pk, whole.pk) and a.attempts > 1]
    assert reseeded
    for answer in reseeded:
        seeds = list(AnswerAttempt.objects.filter(answer=answer).values_list("seed", flat=True))
        assert len(set(seeds)) == len(seeds)  # a new seed after each empty answer or error event
    for answer in Answer.objects.filter(contender=fixed):
        assert (answer.status, answer.attempts, answer.seed) == (Answer.Status.FAILED, 2, fixed.seed)
        assert "the same error as the previous attempt on the same seed" in answer.error
    for answer in Answer.objects.filter(contender=whole, attempts=1, status=Answer.Status.FAILED):
        assert answer.seed % 4 == ERROR_EVENT and answer.error.startswith("HTTP 400 from")
    assert not Answer.objects.filter(
        contender=whole, attempts=1, seed__in=[1, 5, 9]
    ).exists()  # empty: asked again

    # Battles: ready exactly when both answers are done, retired otherwise; none left waiting.
    for battle in Battle.objects.select_related("answer_a", "answer_b"):
        both_done = battle.answer_a.status == battle.answer_b.status == Answer.Status.DONE
        assert battle.status == (Battle.Status.READY if both_done else Battle.Status.RETIRED)
    ready = set(Battle.objects.filter(status=Battle.Status.READY).values_list("id", flat=True))
    assert ready

    # Voters (a new one per request) are served every ready battle, one each, and never an empty
    # answer. Once the pool is empty, a battle may be drawn for the next voter from answers already
    # done (ready at once): it too holds no empty answer.
    api = APIClient()
    served = []
    for _ in range(len(ready) + 1):
        body = api.post("/api/v1/battles/next/").json()
        if body["status"] != "ready":
            break
        served.append(body["battle"])
    assert {battle["id"] for battle in served[: len(ready)]} == ready
    assert all(battle["id"] not in ready for battle in served[len(ready) :])
    for battle in served:
        assert battle["answer_a"]["text"].strip() and battle["answer_b"]["text"].strip()
        assert battle["answer_a"]["html"].strip() and battle["answer_b"]["html"].strip()
