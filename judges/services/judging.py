"""Asking a judge for a verdict: the same claims, leases, retries, outage pauses and concurrency limits
as generating an answer (battles/services/generation.py), through the same endpoint client.

A verdict is claimed with one conditional update (pending → running, a fresh claim token and a lease);
the judge's day budget is taken for the call in a short transaction; the endpoint is called outside any
transaction; the result is saved only while the row still carries the token. An unparseable reply is
asked once more; a second one is recorded as unparseable, with the reply, and not retried again.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from battles import endpoints
from battles.endpoint_client import calls_aborted
from battles.models import Contender
from battles.rendering import storable_text
from battles.services.endpoint_requests import chat_request_build
from battles.services.generation import (
    contender_cached,
    contender_pause_checked,
    contender_slot,
    lease_seconds,
    pause_wait_seconds,
    retry_delay_seconds,
)
from battles.services.health import contender_failure_record
from judges.models import Judge, JudgePrompt, Verdict
from judges.prompts import DEFAULT_PROMPTS, prompt_fill, prompt_language, verdict_parse

logger = logging.getLogger(__name__)

# A judge's reply is kept for staff to read; a judge that rambles on is cut here.
REPLY_MAX_CHARS = 8000
# Unparseable replies before the verdict is recorded as unparseable: the first is asked again once.
UNPARSEABLE_LIMIT = 2
_REQUEST_SPECIFIC_STATUSES = {400, 413, 422}


@dataclass(frozen=True)
class JudgeOutcome:
    status: str
    retry_in_seconds: float | None = None


SKIPPED = JudgeOutcome("skipped")


@dataclass
class _Work:
    """What one call needs, read in one query."""

    verdict_id: int
    attempts: int
    unparseable_replies: int
    swapped: bool
    judge: Judge
    contender: Contender
    question_text: str
    question_language: str
    answer_a_text: str
    answer_b_text: str


def _work_load(verdict_id: int) -> _Work | None:
    rows = Verdict.objects.filter(pk=verdict_id, status=Verdict.Status.PENDING).values_list(
        "attempts",
        "unparseable_replies",
        "order",
        "judge_id",
        "judge__contender_id",
        "judge__is_active",
        "judge__daily_call_budget",
        "battle__question__text",
        "battle__question__language",
        "answer_a__text",
        "answer_b__text",
    )[:1]
    if not rows:
        return None
    (
        attempts,
        unparseable,
        order,
        judge_id,
        contender_id,
        active,
        budget,
        text,
        language,
        answer_a,
        answer_b,
    ) = rows[0]
    return _Work(
        verdict_id=verdict_id,
        attempts=attempts,
        unparseable_replies=unparseable,
        swapped=order == Verdict.Order.SWAPPED,
        judge=Judge(id=judge_id, contender_id=contender_id, is_active=active, daily_call_budget=budget),
        contender=contender_cached(contender_id=contender_id),
        question_text=text,
        question_language=language,
        answer_a_text=answer_a,
        answer_b_text=answer_b,
    )


def verdict_judge(*, verdict_id: int, rng: random.Random | None = None) -> JudgeOutcome:
    """Ask the verdict's judge for it, once."""
    rng = rng or random.Random()
    work = _work_load(verdict_id)
    if work is None:
        return SKIPPED
    if not work.judge.is_active:
        # Paused by staff: the verdict waits; resuming the judge queues its waiting verdicts again.
        return JudgeOutcome("judge_paused")
    if calls_aborted():
        return JudgeOutcome("deferred", retry_in_seconds=rng.uniform(1, 5))
    now = timezone.now()
    contender = work.contender = contender_pause_checked(work.contender)
    wait = pause_wait_seconds(contender, now=now, rng=rng)
    if wait is not None:
        _retry_at(verdict_id, now + timedelta(seconds=wait))
        return JudgeOutcome("deferred", retry_in_seconds=wait)
    with contender_slot(contender) as held:
        if not held:
            return JudgeOutcome("deferred", retry_in_seconds=rng.uniform(0.5, 1.5))
        return _judge_in_slot(work, rng)


def _retry_at(verdict_id: int, retry_at: datetime) -> None:
    Verdict.objects.filter(pk=verdict_id, status=Verdict.Status.PENDING).update(retry_at=retry_at)


def _budget_take(judge_id: int, budget: int, today: date) -> bool:
    """One call from the judge's budget for today; False when it is spent. One statement, so calls
    racing for the last of the budget cannot both have it."""
    if budget <= 0:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO judges_judgeday (judge_id, day, calls) VALUES (%s, %s, 1) "
            "ON CONFLICT (judge_id, day) DO UPDATE SET calls = judges_judgeday.calls + 1 "
            "WHERE judges_judgeday.calls < %s RETURNING calls",
            [judge_id, today, budget],
        )
        return cursor.fetchone() is not None


def _seconds_to_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (tomorrow - now).total_seconds())


def current_prompt(language: str) -> JudgePrompt:
    """The newest prompt of a language; the default one, saved as version 1, if there is none (a
    database emptied of them, or prompts deleted by staff)."""
    prompt = JudgePrompt.objects.filter(language=language).order_by("-version").first()
    if prompt is not None:
        return prompt
    system_text, template = DEFAULT_PROMPTS[language]
    try:
        with transaction.atomic():
            return JudgePrompt.objects.create(
                language=language, version=1, system_text=system_text, template=template, note="default"
            )
    except IntegrityError:  # saved meanwhile by another call
        return JudgePrompt.objects.filter(language=language).order_by("-version").first() or current_prompt(
            language
        )


def _claim(work: _Work, token: uuid.UUID, started_at: datetime) -> bool:
    """pending → running with this claim and a call taken from today's budget, in one transaction.

    False when another worker claimed it first, or when the budget is spent (the verdict then waits
    for the next day)."""
    with transaction.atomic():
        claimed = Verdict.objects.filter(
            pk=work.verdict_id, status=Verdict.Status.PENDING, attempts=work.attempts
        ).update(
            status=Verdict.Status.RUNNING,
            claim_token=token,
            lease_expires_at=started_at + timedelta(seconds=lease_seconds(work.contender)),
            retry_at=None,
            attempts=work.attempts + 1,
        )
        if not claimed:
            return False
        if not _budget_take(work.judge.pk, work.judge.daily_call_budget, started_at.date()):
            raise _BudgetSpent(_seconds_to_midnight(started_at))  # and the claim is rolled back
    return True


class _BudgetSpent(Exception):
    def __init__(self, wait_seconds: float) -> None:
        super().__init__("the judge's calls for today are spent")
        self.wait_seconds = wait_seconds


def _judge_in_slot(work: _Work, rng: random.Random) -> JudgeOutcome:
    token = uuid.uuid4()
    started_at = timezone.now()
    try:
        if not _claim(work, token, started_at):
            return SKIPPED
    except _BudgetSpent as spent:
        # The rollback undid the claim; the retry time is written after it.
        _retry_at(work.verdict_id, started_at + timedelta(seconds=spent.wait_seconds))
        return JudgeOutcome("budget_spent")
    language = prompt_language(work.question_language)
    prompt = current_prompt(language)
    first, second = (
        (work.answer_b_text, work.answer_a_text) if work.swapped else (work.answer_a_text, work.answer_b_text)
    )
    messages = []
    if prompt.system_text:
        messages.append({"role": "system", "content": prompt.system_text})
    user = prompt_fill(prompt.template, question=work.question_text, answer_first=first, answer_second=second)
    messages.append({"role": "user", "content": user})
    try:
        request = chat_request_build(contender=work.contender, seed=work.contender.seed, messages=messages)
    except endpoints.PermanentEndpointError as error:
        return _record_failure(work, token, started_at, error, rng, prompt=prompt)
    if not connection.in_atomic_block:
        connection.close()  # the call may take minutes: hold no database connection meanwhile
    try:
        completion = endpoints.chat_completion(request)
    except endpoints.CancelledEndpointError as error:
        return _claim_undo(work, token, error)
    except endpoints.EndpointError as error:
        return _record_failure(work, token, started_at, error, rng, prompt=prompt)
    return _record_reply(work, token, prompt, completion)


def _queue(verdict_id: int, delay: float) -> None:
    from judges.tasks import verdict_judge_task

    transaction.on_commit(
        partial(verdict_judge_task.apply_async, (verdict_id,), countdown=delay), robust=True
    )


def _claim_undo(work: _Work, token: uuid.UUID, error: endpoints.EndpointError) -> JudgeOutcome:
    """A call we gave up on (the worker is stopping): no attempt, back to the queue."""
    delay = random.uniform(1, 5)
    with transaction.atomic():
        undone = Verdict.objects.filter(
            pk=work.verdict_id, status=Verdict.Status.RUNNING, claim_token=token
        ).update(
            status=Verdict.Status.PENDING,
            attempts=work.attempts,
            claim_token=None,
            lease_expires_at=None,
            retry_at=timezone.now() + timedelta(seconds=delay),
            error=str(error),
        )
        if undone:
            _queue(work.verdict_id, delay)
    return JudgeOutcome("handed_back" if undone else "claim_lost")


def _record_reply(
    work: _Work, token: uuid.UUID, prompt: JudgePrompt, completion: endpoints.ChatCompletion
) -> JudgeOutcome:
    full_reply, _ = storable_text(completion.text)
    parsed = verdict_parse(full_reply, swapped=work.swapped)  # the verdict ends the reply: read it all
    reply = full_reply[:REPLY_MAX_CHARS]
    now = timezone.now()
    claim = Verdict.objects.filter(pk=work.verdict_id, status=Verdict.Status.RUNNING, claim_token=token)
    common = {
        "claim_token": None,
        "lease_expires_at": None,
        "reply": reply,
        "prompt": prompt,
        "latency_ms": completion.latency_ms,
    }
    with transaction.atomic():
        if parsed is not None:
            saved = claim.update(
                status=Verdict.Status.DONE,
                score=parsed.score,
                label=parsed.label,
                error="",
                finished_at=now,
                **common,
            )
            outcome: str = Verdict.Status.DONE
        else:
            unparseable = work.unparseable_replies + 1
            again = unparseable < UNPARSEABLE_LIMIT
            message = "the reply holds no single verdict such as [[A>B]]"
            saved = claim.update(
                status=Verdict.Status.PENDING if again else Verdict.Status.UNPARSEABLE,
                unparseable_replies=unparseable,
                error=message + (": asked again" if again else ", twice"),
                finished_at=None if again else now,
                **common,
            )
            outcome = "asked_again" if again else Verdict.Status.UNPARSEABLE
            if saved and again:
                _queue(work.verdict_id, 0)
        if not saved:
            logger.warning(
                "verdict %s finished after its claim was taken back; reply dropped", work.verdict_id
            )
            return JudgeOutcome("claim_lost")
        if work.contender.consecutive_failures:
            Contender.objects.filter(pk=work.contender.pk).update(consecutive_failures=0, last_success_at=now)
    return JudgeOutcome(outcome)


def _record_failure(
    work: _Work,
    token: uuid.UUID,
    started_at: datetime,
    error: endpoints.EndpointError,
    rng: random.Random,
    *,
    prompt: JudgePrompt | None,
) -> JudgeOutcome:
    attempt = work.attempts + 1
    message = str(error)
    will_retry = (
        isinstance(error, endpoints.RetryableEndpointError)
        and attempt < settings.ARENA_GENERATION_MAX_ATTEMPTS
    )
    delay = retry_delay_seconds(attempt=attempt, retry_after_seconds=error.retry_after_seconds, rng=rng)
    now = timezone.now()
    logger.warning("verdict %s attempt %s failed: %s", work.verdict_id, attempt, message)
    with transaction.atomic():
        claim = Verdict.objects.filter(pk=work.verdict_id, status=Verdict.Status.RUNNING, claim_token=token)
        common = {"error": message[:2000], "claim_token": None, "lease_expires_at": None, "prompt": prompt}
        if will_retry:
            saved = claim.update(
                status=Verdict.Status.PENDING, retry_at=now + timedelta(seconds=delay), **common
            )
        else:
            saved = claim.update(status=Verdict.Status.FAILED, finished_at=now, **common)
        if not saved:
            return JudgeOutcome("claim_lost")
        if will_retry:
            _queue(work.verdict_id, delay)
        if isinstance(error, endpoints.RetryableEndpointError) or error.status_code not in (
            None,
            *_REQUEST_SPECIFIC_STATUSES,
        ):
            contender_failure_record(contender_id=work.contender.pk, error=message, started_at=started_at)
    return JudgeOutcome("retrying" if will_retry else Verdict.Status.FAILED)
