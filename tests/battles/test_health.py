"""Outages and crashes: failure counting, pausing, probing, and the sweeper."""

import datetime as dt
import json
import uuid

import httpx
import pytest
import respx
from django.utils import timezone

from battles import endpoint_client
from battles.models import Answer, AnswerAttempt, Battle, Contender
from battles.services.contenders import contenders_resume
from battles.services.health import (
    answers_sweep,
    contender_failure_record,
    contender_recovery_probe,
    contenders_probe_due,
    probe_wait_seconds,
)
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, QuestionFactory, VoterFactory

pytestmark = pytest.mark.django_db

URL = "http://models.test/v1/chat/completions"
OK = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}]
}


def test_threshold_failures_in_a_row_pause_the_contender_and_retire_its_waiting_battles(
    settings, django_capture_on_commit_callbacks
):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 3
    flaky = ContenderFactory()
    waiting = BattleFactory(contender_a=flaky, status=Battle.Status.GENERATING, ready_at=None)
    Answer.objects.filter(pk=waiting.answer_a_id).update(status=Answer.Status.PENDING)
    ready = BattleFactory(contender_b=flaky)  # both answers done: stays ready
    assert contender_failure_record(contender_id=flaky.pk, error="HTTP 503") is False
    assert contender_failure_record(contender_id=flaky.pk, error="HTTP 503") is False
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        assert contender_failure_record(contender_id=flaky.pk, error="connect refused") is True
    flaky.refresh_from_db()
    assert flaky.consecutive_failures == 3 and flaky.last_error == "connect refused"
    # The first probe is due after ARENA_CONTENDER_PROBE_FIRST_SECONDS (5 s), not a long cool-down,
    # and is queued with that countdown.
    first = dt.timedelta(seconds=5)
    assert before + first <= flaky.paused_until <= timezone.now() + first
    assert before <= flaky.paused_at <= timezone.now()
    assert flaky.paused_reason == "3 failures in a row; the last: connect refused"
    assert (flaky.probes_failed, flaky.flaps) == (0, 0)
    probe, retire = scheduled
    assert (probe.func.__self__.name, probe.args, probe.keywords) == (
        "battles.tasks.contender_probe_task",
        ((flaky.pk,),),
        {"countdown": 5.0},
    )
    assert Battle.objects.get(pk=waiting.pk).status == Battle.Status.GENERATING  # after the commit:
    retire()
    waiting.refresh_from_db()
    ready.refresh_from_db()
    assert waiting.status == Battle.Status.RETIRED and "paused" in waiting.retired_reason
    assert ready.status == Battle.Status.READY
    # Calls already under way fail too: recorded, but neither counted, nor extending the pause.
    paused_until = flaky.paused_until
    assert contender_failure_record(contender_id=flaky.pk, error="again") is False
    flaky.refresh_from_db()
    assert (flaky.paused_until, flaky.consecutive_failures, flaky.last_error) == (paused_until, 3, "again")


def test_probe_waits_double_up_to_a_short_ceiling_and_flaps_lengthen_them(settings):
    assert (settings.ARENA_CONTENDER_PROBE_FIRST_SECONDS, settings.ARENA_CONTENDER_PROBE_MAX_SECONDS) == (
        5,
        20,
    )
    assert [probe_wait_seconds(probes_failed=n, flaps=0) for n in range(6)] == [5, 10, 20, 20, 20, 20]
    assert [probe_wait_seconds(probes_failed=n, flaps=1) for n in range(4)] == [10, 20, 40, 40]
    assert [probe_wait_seconds(probes_failed=n, flaps=2) for n in range(4)] == [20, 40, 80, 80]
    # Never past the cool-down, however long the outage or the flapping.
    assert (
        probe_wait_seconds(probes_failed=100_000, flaps=100_000) == settings.ARENA_CONTENDER_COOLDOWN_SECONDS
    )


def test_a_pause_soon_after_a_restore_is_a_flap_and_waits_longer(
    settings, django_capture_on_commit_callbacks
):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 1
    settings.ARENA_CONTENDER_FLAP_WINDOW_SECONDS = 600
    flapping = ContenderFactory(restored_at=timezone.now() - dt.timedelta(minutes=3), flaps=1)
    steady = ContenderFactory(restored_at=timezone.now() - dt.timedelta(hours=2), flaps=3)
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        contender_failure_record(contender_id=flapping.pk, error="timed out")
        contender_failure_record(contender_id=steady.pk, error="timed out")
    flapping.refresh_from_db()
    steady.refresh_from_db()
    assert (flapping.flaps, steady.flaps) == (2, 0)
    probes = [call for call in scheduled if getattr(call.func, "__self__", None) is not None]
    assert [call.keywords["countdown"] for call in probes] == [20.0, 5.0]
    assert "2 in a row" in flapping.paused_reason and "in a row" not in steady.paused_reason.split(";")[1]


def sse(*events: dict) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"
    )


def streamed(text: str) -> httpx.Response:
    chunks = [{"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return httpx.Response(200, content=sse(*chunks), headers={"Content-Type": "text/event-stream"})


@respx.mock
def test_the_probe_is_the_real_request_and_a_success_restores_the_contender_and_its_answers(
    django_capture_on_commit_callbacks,
):
    question = QuestionFactory(text="Name three rivers of China.")
    contender = ContenderFactory(
        consecutive_failures=5,
        paused_until=timezone.now() - dt.timedelta(seconds=1),
        paused_at=timezone.now() - dt.timedelta(seconds=30),
        paused_reason="5 failures in a row; the last: HTTP 503",
        probes_failed=2,
        flaps=1,
        stream=True,
        system_prompt="Answer briefly.",
        temperature=0.7,
        max_tokens=512,
        request_timeout_seconds=40,
        extra_parameters={"top_k": 20},
    )
    put_off = AnswerFactory(
        question=question,
        contender=contender,
        status=Answer.Status.PENDING,
        text="",
        retry_at=timezone.now() + dt.timedelta(minutes=1),
    )
    route = respx.post(URL).mock(return_value=streamed("The Yangtze, the Yellow River and the Pearl."))
    respx.get("http://models.test/props").mock(return_value=httpx.Response(404))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert contender_recovery_probe(contender_id=contender.pk) is True
    contender.refresh_from_db()
    assert (contender.paused_until, contender.paused_reason, contender.consecutive_failures) == (None, "", 0)
    assert contender.probes_failed == 0 and contender.flaps == 1  # flaps are kept to spot the next one
    assert contender.restored_at is not None and contender.last_success_at == contender.restored_at
    body = json.loads(route.calls.last.request.content)
    assert body["stream"] is True and body["max_tokens"] == 512 and body["temperature"] == 0.7
    assert body["top_k"] == 20 and isinstance(body["seed"], int)
    assert body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": question.text},
    ]
    # The answers put off during the pause are queued again at once.
    assert Answer.objects.get(pk=put_off.pk).retry_at <= timezone.now()
    assert [(call.func.__self__.name, call.args) for call in queued] == [
        ("battles.tasks.answer_generate_task", (put_off.pk,))
    ]


@respx.mock
@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (httpx.Response(503, json={"error": {"message": "loading model"}}), "loading model"),
        (None, "empty answer"),
    ],
)
def test_a_failed_probe_keeps_the_contender_paused_and_queues_the_next_later(
    reply, detail, django_capture_on_commit_callbacks
):
    contender = ContenderFactory(
        consecutive_failures=5, paused_until=timezone.now() - dt.timedelta(seconds=1), probes_failed=1
    )
    not_due = ContenderFactory(consecutive_failures=5, paused_until=timezone.now() + dt.timedelta(minutes=5))
    respx.post(URL).mock(return_value=reply or streamed(" \n "))
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert contender_recovery_probe(contender_id=contender.pk) is False
        assert contender_recovery_probe(contender_id=not_due.pk) is None
    after = timezone.now()
    contender.refresh_from_db()
    wait = dt.timedelta(seconds=20)  # the second failed probe in a row: 5 s × 2²
    assert before + wait <= contender.paused_until <= after + wait
    assert contender.probes_failed == 2 and detail in contender.last_error
    assert [(call.args, call.keywords) for call in queued] == [(((contender.pk,),), {"countdown": 20.0})]
    assert Contender.objects.get(pk=not_due.pk).paused_until == not_due.paused_until


@respx.mock
def test_a_probe_under_way_holds_the_contender_so_no_second_probe_starts():
    contender = ContenderFactory(
        consecutive_failures=5, paused_until=timezone.now() - dt.timedelta(seconds=1)
    )
    second: list[bool | None] = []

    def answer_while_a_second_probe_tries(request: httpx.Request) -> httpx.Response:
        second.append(contender_recovery_probe(contender_id=contender.pk))
        return streamed("Hello")

    route = respx.post(URL).mock(side_effect=answer_while_a_second_probe_tries)
    respx.get("http://models.test/props").mock(return_value=httpx.Response(404))
    assert contender_recovery_probe(contender_id=contender.pk) is True
    assert second == [None] and route.call_count == 1


def test_the_periodic_task_queues_a_probe_for_each_contender_due(monkeypatch):
    due = ContenderFactory(paused_until=timezone.now() - dt.timedelta(seconds=1))
    ContenderFactory(paused_until=timezone.now() + dt.timedelta(seconds=30))
    ContenderFactory(paused_until=timezone.now() - dt.timedelta(seconds=1), is_active=False)
    ContenderFactory()
    queued: list[int] = []
    monkeypatch.setattr("battles.tasks.contender_probe_task.delay", queued.append)
    assert contenders_probe_due() == [due.pk] and queued == [due.pk]


def test_sweeper_returns_answers_whose_lease_ran_out(django_capture_on_commit_callbacks):
    expired = AnswerFactory(
        status=Answer.Status.RUNNING,
        text="",
        attempts=1,
        claim_token=uuid.uuid4(),
        started_at=timezone.now() - dt.timedelta(minutes=20),
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    alive = AnswerFactory(
        status=Answer.Status.RUNNING,
        text="",
        attempts=1,
        claim_token=uuid.uuid4(),
        started_at=timezone.now(),
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        report = answers_sweep()
    assert report.answers_requeued == [expired.pk]
    assert len(queued) == 1
    expired.refresh_from_db()
    assert (expired.status, expired.claim_token, expired.lease_expires_at) == (
        Answer.Status.PENDING,
        None,
        None,
    )
    lost = AnswerAttempt.objects.get(answer=expired)
    assert (lost.number, lost.outcome) == (1, AnswerAttempt.Outcome.LOST)
    alive.refresh_from_db()
    assert alive.status == Answer.Status.RUNNING


def waiting_battle(**fields) -> Battle:
    battle = BattleFactory(status=Battle.Status.GENERATING, ready_at=None, **fields)
    Answer.objects.filter(pk=battle.answer_b_id).update(status=Answer.Status.PENDING)
    return battle


def test_sweeper_retires_battles_whose_answers_never_came(settings):
    settings.ARENA_BATTLE_GENERATING_TIMEOUT_SECONDS = 60
    old = waiting_battle(created_at=timezone.now() - dt.timedelta(minutes=2))
    young = waiting_battle()
    paused = waiting_battle(contender_b=ContenderFactory(paused_until=timezone.now()))
    deactivated = waiting_battle(contender_a=ContenderFactory(is_active=False))
    ready = BattleFactory(created_at=timezone.now() - dt.timedelta(hours=2))
    report = answers_sweep()
    assert (report.battles_retired, report.battles_made_ready) == (3, 0)
    assert [Battle.objects.get(pk=b.pk).status for b in (old, young, paused, deactivated, ready)] == [
        Battle.Status.RETIRED,
        Battle.Status.GENERATING,
        Battle.Status.RETIRED,
        Battle.Status.RETIRED,
        Battle.Status.READY,
    ]


def test_sweeper_promotes_a_waiting_battle_whose_answers_are_both_done():
    stuck = BattleFactory(status=Battle.Status.GENERATING, ready_at=None)
    assert answers_sweep().battles_made_ready == 1
    stuck.refresh_from_db()
    assert stuck.status == Battle.Status.READY and stuck.ready_at is not None


def test_sweeper_returns_battles_served_long_ago_and_never_voted_on(settings):
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    voter = VoterFactory()
    abandoned = BattleFactory(
        status=Battle.Status.SERVED, voter=voter, served_at=timezone.now() - dt.timedelta(minutes=11)
    )
    reading = BattleFactory(
        status=Battle.Status.SERVED, voter=voter, served_at=timezone.now() - dt.timedelta(minutes=9)
    )
    assert answers_sweep().battles_returned == 1
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.voter, abandoned.served_at) == (Battle.Status.READY, None, None)
    assert Battle.objects.get(pk=reading.pk).status == Battle.Status.SERVED


def test_sweeper_requeues_retries_whose_message_was_lost():
    overdue = AnswerFactory(
        status=Answer.Status.PENDING, text="", retry_at=timezone.now() - dt.timedelta(minutes=5)
    )
    AnswerFactory(status=Answer.Status.PENDING, text="", retry_at=timezone.now() + dt.timedelta(seconds=30))
    AnswerFactory(status=Answer.Status.PENDING, text="", retry_at=timezone.now() - dt.timedelta(seconds=30))
    before = timezone.now()
    assert answers_sweep().retries_requeued == [overdue.pk]
    after = timezone.now()
    overdue.refresh_from_db()
    assert before <= overdue.retry_at <= after  # stamped with the sweep's time: not again at the next sweep


def test_an_answer_whose_attempts_keep_being_lost_fails_at_the_attempt_limit(
    settings, django_capture_on_commit_callbacks
):
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 3
    battle = waiting_battle()
    Answer.objects.filter(pk=battle.answer_b_id).update(
        status=Answer.Status.RUNNING,
        attempts=3,
        claim_token=uuid.uuid4(),
        started_at=timezone.now() - dt.timedelta(minutes=20),
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        report = answers_sweep()
    assert (report.answers_failed, report.answers_requeued, queued) == ([battle.answer_b_id], [], [])
    answer = Answer.objects.get(pk=battle.answer_b_id)
    assert (answer.status, answer.claim_token, answer.attempts) == (Answer.Status.FAILED, None, 3)
    assert "the limit" in answer.error
    assert AnswerAttempt.objects.get(answer=answer).outcome == AnswerAttempt.Outcome.LOST
    battle.refresh_from_db()
    assert (battle.status, battle.retired_reason) == (Battle.Status.RETIRED, f"answer {answer.pk} failed")


@respx.mock
@pytest.mark.parametrize("probe_answers", [True, False])
def test_staff_resuming_during_a_probe_wins_over_the_probes_result(probe_answers):
    contender = ContenderFactory(
        consecutive_failures=5, paused_until=timezone.now() - dt.timedelta(seconds=1)
    )

    def staff_resume_meanwhile(request: httpx.Request) -> httpx.Response:
        contenders_resume(contender_ids=[contender.pk])
        return (
            streamed("Hello") if probe_answers else httpx.Response(503, json={"error": {"message": "down"}})
        )

    respx.post(URL).mock(side_effect=staff_resume_meanwhile)
    respx.get("http://models.test/props").mock(return_value=httpx.Response(404))
    assert contender_recovery_probe(contender_id=contender.pk) is None
    resumed = Contender.objects.get(pk=contender.pk)
    assert (resumed.paused_until, resumed.probes_failed, resumed.restored_at) == (None, 0, None)


@respx.mock
def test_a_probe_cancelled_by_shutdown_is_due_again_and_not_counted():
    contender = ContenderFactory(
        consecutive_failures=5, paused_until=timezone.now() - dt.timedelta(seconds=1), probes_failed=1
    )

    def cancelled(request: httpx.Request) -> httpx.Response:
        endpoint_client.calls_abort("the worker is shutting down")
        raise httpx.ReadError("connection shut down")

    respx.post(URL).mock(side_effect=cancelled)
    try:
        assert contender_recovery_probe(contender_id=contender.pk) is None
    finally:
        endpoint_client.calls_allow()
    after = Contender.objects.get(pk=contender.pk)
    assert after.probes_failed == 1 and after.paused_until <= timezone.now()  # due again, for another worker


def test_failures_of_calls_started_before_a_restore_do_not_start_a_new_streak(settings):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 2
    restored_at = timezone.now() - dt.timedelta(seconds=3)
    contender = ContenderFactory(restored_at=restored_at, flaps=0)
    before_restore = restored_at - dt.timedelta(seconds=30)
    for _ in range(3):
        assert (
            contender_failure_record(contender_id=contender.pk, error="timed out", started_at=before_restore)
            is False
        )
    late = Contender.objects.get(pk=contender.pk)
    assert (late.consecutive_failures, late.paused_until, late.last_error) == (0, None, "timed out")
    after_restore = timezone.now()
    assert (
        contender_failure_record(contender_id=contender.pk, error="HTTP 503", started_at=after_restore)
        is False
    )
    assert (
        contender_failure_record(contender_id=contender.pk, error="HTTP 503", started_at=after_restore)
        is True
    )
    assert Contender.objects.get(pk=contender.pk).flaps == 1  # a real flap: new calls failed again
