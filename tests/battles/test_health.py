"""Outages and crashes: failure counting, pausing, probing, and the sweeper."""

import datetime as dt
import uuid

import httpx
import pytest
import respx
from django.utils import timezone

from battles.models import Answer, AnswerAttempt, Battle, Contender
from battles.services.generation import contender_failure_record
from battles.services.health import answers_sweep, contenders_probe_due
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, VoterFactory

pytestmark = pytest.mark.django_db

URL = "http://models.test/v1/chat/completions"
OK = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}]
}


def test_threshold_failures_in_a_row_pause_the_contender_and_retire_its_waiting_battles(settings):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 3
    settings.ARENA_CONTENDER_COOLDOWN_SECONDS = 120
    flaky = ContenderFactory()
    waiting = BattleFactory(contender_a=flaky, status=Battle.Status.GENERATING, ready_at=None)
    Answer.objects.filter(pk=waiting.answer_a_id).update(status=Answer.Status.PENDING)
    ready = BattleFactory(contender_b=flaky)  # both answers done: stays ready
    assert contender_failure_record(contender_id=flaky.pk, error="HTTP 503") is False
    assert contender_failure_record(contender_id=flaky.pk, error="HTTP 503") is False
    before = timezone.now()
    assert contender_failure_record(contender_id=flaky.pk, error="connect refused") is True
    flaky.refresh_from_db()
    assert flaky.consecutive_failures == 3 and flaky.last_error == "connect refused"
    assert (
        before + dt.timedelta(seconds=119) < flaky.paused_until < timezone.now() + dt.timedelta(seconds=121)
    )
    waiting.refresh_from_db()
    ready.refresh_from_db()
    assert waiting.status == Battle.Status.RETIRED and "paused" in waiting.retired_reason
    assert ready.status == Battle.Status.READY
    # Further failures neither extend the pause nor retire again.
    paused_until = flaky.paused_until
    assert contender_failure_record(contender_id=flaky.pk, error="again") is False
    flaky.refresh_from_db()
    assert flaky.paused_until == paused_until and flaky.consecutive_failures == 4


@respx.mock
def test_probe_restores_a_contender_that_answers_again():
    contender = ContenderFactory(
        consecutive_failures=7, paused_until=timezone.now() - dt.timedelta(seconds=1)
    )
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=OK))
    assert contenders_probe_due() == {contender.name: True}
    contender.refresh_from_db()
    assert (contender.paused_until, contender.consecutive_failures) == (None, 0)
    assert contender.last_success_at is not None
    body = httpx.Response(200, content=route.calls.last.request.content).json()
    assert body["max_tokens"] == 8 and body["stream"] is False


@respx.mock
def test_probe_failure_keeps_the_contender_paused_for_another_cool_down(settings):
    settings.ARENA_CONTENDER_COOLDOWN_SECONDS = 60
    contender = ContenderFactory(
        consecutive_failures=5, paused_until=timezone.now() - dt.timedelta(seconds=1)
    )
    not_due = ContenderFactory(consecutive_failures=5, paused_until=timezone.now() + dt.timedelta(minutes=5))
    respx.post(URL).mock(return_value=httpx.Response(503, json={"error": {"message": "loading model"}}))
    before = timezone.now()
    assert contenders_probe_due() == {contender.name: False}
    after = timezone.now()
    contender.refresh_from_db()
    cool_down = dt.timedelta(seconds=60)  # from the failed probe, which happened between these two
    assert before + cool_down <= contender.paused_until <= after + cool_down
    assert "loading model" in contender.last_error
    assert Contender.objects.get(pk=not_due.pk).paused_until == not_due.paused_until


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
