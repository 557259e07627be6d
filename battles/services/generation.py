"""Fetching answers from endpoint contenders: claims, retries, outages, and moving battles on.

An answer is generated exactly once however workers crash: a worker claims the pending row with
one conditional update that also stamps a fresh claim token and a lease; the endpoint is called
outside any transaction and without holding a database connection; the result is saved only if
the row still carries that token. A worker that dies leaves its lease to run out, and the sweeper
(answers_sweep) returns the answer to the queue.
"""

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from battles import endpoints
from battles.endpoint_client import calls_aborted
from battles.limits import concurrency_slots
from battles.models import (
    SEED_RANGE,
    Answer,
    AnswerAttempt,
    Contender,
    Question,
)
from battles.rendering import answer_shortfall, render_markdown, storable_text
from battles.services.battle_states import battles_advance_for_answer
from battles.services.endpoint_requests import chat_request_build
from battles.services.health import contender_failure_record
from battles.services.leaks import answer_leaks
from battles.services.style import answer_style_fields
from battles.services.tallies import answer_latency_count

logger = logging.getLogger(__name__)

# HTTP statuses that say something about one request (too long a prompt, say), not about the
# endpoint's health: they fail the answer without counting towards pausing the contender.
_REQUEST_SPECIFIC_STATUSES = {400, 413, 422}
# last_success_at of a healthy contender is a rough mark: writing it after every answer would cost a
# query per answer.
_SUCCESS_RESOLUTION = timedelta(seconds=30)


@dataclass(frozen=True)
class GenerationOutcome:
    """What a generation task did; `retry_in_seconds` asks the task to run again later."""

    status: str
    retry_in_seconds: float | None = None


SKIPPED = GenerationOutcome("skipped")


def lease_seconds(contender: Contender) -> float:
    timeout = contender.request_timeout_seconds or settings.ARENA_ENDPOINT_TIMEOUT_SECONDS
    return float(timeout) + settings.ARENA_GENERATION_LEASE_MARGIN_SECONDS


def retry_delay_seconds(*, attempt: int, retry_after_seconds: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter, capped; a server's Retry-After is honoured within the cap."""
    ceiling = settings.ARENA_GENERATION_RETRY_MAX_SECONDS
    backoff = min(ceiling, settings.ARENA_GENERATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    delay = rng.uniform(backoff / 2, backoff)
    if retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    return min(delay, ceiling)


def answer_generate(*, answer_id: int, rng: random.Random | None = None) -> GenerationOutcome:
    """Fetch one pending answer from its contender's endpoint."""
    rng = rng or random.Random()
    answer = _answer_load(answer_id)
    if answer is None or answer.status != Answer.Status.PENDING:
        return SKIPPED
    if calls_aborted():
        # The worker is shutting down: leave the answer to the next worker, attempt not spent.
        return GenerationOutcome("deferred", retry_in_seconds=rng.uniform(1, 5))
    now = timezone.now()
    contender = answer.contender = contender_pause_checked(answer.contender)
    wait = pause_wait_seconds(contender, now=now, rng=rng)
    if wait is not None:
        _answer_retry_at(answer.pk, now + timedelta(seconds=wait))
        return GenerationOutcome("deferred", retry_in_seconds=wait)
    with contender_slot(contender) as held:
        if not held:
            return GenerationOutcome("deferred", retry_in_seconds=rng.uniform(0.5, 1.5))
        return _generate_in_slot(answer, rng)


def contender_pause_checked(contender: Contender) -> Contender:
    """The contender, read again if the cached copy says it is paused: the cache may be a few seconds
    old, and a restore queues the contender's work at once."""
    if contender.paused_until is None:
        return contender
    paused_until = Contender.objects.filter(pk=contender.pk).values_list("paused_until", flat=True).first()
    if paused_until is not None:
        return contender
    contender_cache_clear()
    return contender_cached(contender_id=contender.pk)


def pause_wait_seconds(contender: Contender, *, now: datetime, rng: random.Random) -> float | None:
    """How long a call to a paused contender waits (its outage: the probe restores it, calls do not add
    to its failures), or None when it is not paused."""
    if contender.paused_until is None:
        return None
    return max(1.0, (contender.paused_until - now).total_seconds()) + rng.uniform(0, 5)


@contextmanager
def contender_slot(contender: Contender) -> Iterator[bool]:
    """One of the contender's concurrent requests (across all workers) while the block runs; False
    when all are taken."""
    slots = concurrency_slots()
    slot_key = f"contender:{contender.pk}"
    slot = slots.acquire(
        slot_key, limit=contender.max_concurrent_requests, lease_seconds=lease_seconds(contender)
    )
    if slot is None:
        yield False
        return
    try:
        yield True
    finally:
        slots.release(slot_key, slot)


def _answer_load(answer_id: int) -> Answer | None:
    """The answer with its question text and contender: the few columns a generation needs.

    This runs for every answer (and every deferral), so it avoids loading three whole rows; the
    contender comes from a short-lived per-process cache.
    """
    rows = Answer.objects.filter(pk=answer_id).values_list(
        "status", "attempts", "seed", "question_id", "contender_id", "question__text"
    )[:1]
    if not rows:
        return None
    status, attempts, seed, question_id, contender_id, question_text = rows[0]
    answer = Answer(id=answer_id, status=status, attempts=attempts, seed=seed)
    answer.question = Question(id=question_id, text=question_text)
    answer.contender = contender_cached(contender_id=contender_id)
    return answer


_contender_cache: dict[int, tuple[float, Contender]] = {}
_contender_cache_lock = threading.Lock()
# Contender settings and health change rarely; a few seconds of staleness costs nothing.
_CONTENDER_CACHE_SECONDS = 2.0


def contender_cache_clear() -> None:
    with _contender_cache_lock:
        _contender_cache.clear()


def contender_cached(*, contender_id: int) -> Contender:
    now = time.monotonic()
    with _contender_cache_lock:
        cached = _contender_cache.get(contender_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    contender = Contender.objects.get(pk=contender_id)
    with _contender_cache_lock:
        _contender_cache[contender_id] = (now + _CONTENDER_CACHE_SECONDS, contender)
    return contender


def _answer_retry_at(answer_id: int, retry_at: datetime) -> None:
    Answer.objects.filter(pk=answer_id, status=Answer.Status.PENDING).update(retry_at=retry_at)


def _answer_claim(answer: Answer, token: uuid.UUID, started_at: datetime) -> bool:
    """pending → running, stamped with this claim; False if another worker claimed it first."""
    # Matching the attempt count read before makes this attempt's number certain without another read.
    claimed = Answer.objects.filter(
        pk=answer.pk, status=Answer.Status.PENDING, attempts=answer.attempts
    ).update(
        status=Answer.Status.RUNNING,
        claim_token=token,
        started_at=started_at,
        lease_expires_at=started_at + timedelta(seconds=lease_seconds(answer.contender)),
        retry_at=None,
        attempts=answer.attempts + 1,
    )
    return bool(claimed)


def _generate_in_slot(answer: Answer, rng: random.Random) -> GenerationOutcome:
    contender = answer.contender
    token = uuid.uuid4()
    started_at = timezone.now()
    attempt = answer.attempts + 1
    if not _answer_claim(answer, token, started_at):
        return SKIPPED
    if not contender.is_endpoint:
        error = endpoints.PermanentEndpointError(
            f"{contender.name} is an offline contender: its answers are imported, not generated"
        )
        return _record_failure(answer, token, attempt, started_at, error, rng)
    try:
        request = chat_request_build(contender=contender, question=answer.question, seed=answer.seed)
    except endpoints.PermanentEndpointError as error:
        return _record_failure(answer, token, attempt, started_at, error, rng)
    answer.parameters = {key: value for key, value in request.body().items() if key != "messages"}
    # The call can take minutes: hold no database connection meanwhile, so a worker with many calls
    # in flight does not hold as many connections. Inside a transaction (as in tests), keep it.
    if not connection.in_atomic_block:
        connection.close()
    try:
        completion = endpoints.chat_completion(request)
    except endpoints.EndpointError as error:
        return _record_endpoint_error(answer, token, attempt, started_at, error, rng)
    return _record_success(answer, token, attempt, started_at, completion)


def _record_endpoint_error(
    answer: Answer,
    token: uuid.UUID,
    attempt: int,
    started_at: Any,
    error: endpoints.EndpointError,
    rng: random.Random,
) -> GenerationOutcome:
    """A failed call, retried the way that can help.

    An error the server reported after it began to answer (in-band), or the same 5xx with the same
    body twice on the same seed, may come from what the model generates for that seed: trying the
    same seed again would fail the same way. Such an answer is asked again with a new seed, or, when
    the contender's seed is fixed, fails at the first repeat. A call we cancelled (the worker shutting
    down) is retried and not held against the contender.
    """
    if isinstance(error, endpoints.CancelledEndpointError):
        return _claim_undo(answer, token, attempt, error)
    if not isinstance(error, endpoints.RetryableEndpointError):
        return _record_failure(answer, token, attempt, started_at, error, rng)
    reseed = answer.contender.seed is None
    may_be_the_seed = error.is_in_band or (error.status_code or 0) >= 500
    repeated = may_be_the_seed and _repeats_last_attempt(answer, attempt, error)
    if repeated and not reseed:
        failure = endpoints.PermanentEndpointError(
            f"{error} (the same error as the previous attempt on the same seed; the contender's seed is "
            "fixed, so another attempt would repeat it)",
            status_code=error.status_code,
        )
        return _record_failure(answer, token, attempt, started_at, failure, rng, contender_failed=False)
    return _record_failure(
        answer,
        token,
        attempt,
        started_at,
        error,
        rng,
        new_seed=reseed and (error.is_in_band or repeated),
        # A repeat says something about this request, not about the endpoint's health.
        contender_failed=not repeated,
    )


def _repeats_last_attempt(answer: Answer, attempt: int, error: endpoints.EndpointError) -> bool:
    previous = (
        AnswerAttempt.objects.filter(answer_id=answer.pk, number=attempt - 1)
        .values_list("error", "status_code", "seed")
        .first()
    )
    return previous is not None and previous == (str(error), error.status_code, answer.seed)


def _claim_undo(
    answer: Answer, token: uuid.UUID, attempt: int, error: endpoints.EndpointError
) -> GenerationOutcome:
    """A call we gave up on ourselves (the worker is shutting down) is no attempt: the claim is
    undone, the answer goes back to the queue with its attempt count as it was, and nothing is held
    against the contender."""
    from battles.tasks import answer_generate_task

    delay = random.uniform(1, 5)
    with transaction.atomic():
        undone = Answer.objects.filter(pk=answer.pk, status=Answer.Status.RUNNING, claim_token=token).update(
            status=Answer.Status.PENDING,
            attempts=attempt - 1,
            claim_token=None,
            lease_expires_at=None,
            retry_at=timezone.now() + timedelta(seconds=delay),
            error=str(error),
        )
        if undone:
            transaction.on_commit(
                partial(answer_generate_task.apply_async, (answer.pk,), countdown=delay), robust=True
            )
    logger.warning("answer %s handed back: %s", answer.pk, error)
    return GenerationOutcome("handed_back" if undone else "claim_lost")


def _record_success(
    answer: Answer, token: uuid.UUID, attempt: int, started_at: Any, completion: endpoints.ChatCompletion
) -> GenerationOutcome:
    text, text_repairs = storable_text(completion.text)
    shortfall = answer_shortfall(text)
    if shortfall:
        return _record_empty(answer, token, attempt, started_at, completion, shortfall)
    reasoning, reasoning_repairs = storable_text(completion.reasoning)
    repairs = "; ".join(
        f"{where}: {what}"
        for where, what in (("text", text_repairs), ("reasoning", reasoning_repairs))
        if what
    )
    try:
        return _record_done(answer, token, attempt, started_at, completion, text, reasoning, repairs[:300])
    except (DataError, ValueError) as error:
        # Whatever the database or its driver refuses is an attempt like any other, never a crashed
        # task that leaves the answer running until its lease runs out.
        failure = endpoints.PermanentEndpointError(f"the answer could not be stored: {error}".strip())
        return _record_failure(answer, token, attempt, started_at, failure, random.Random())


def _record_empty(
    answer: Answer,
    token: uuid.UUID,
    attempt: int,
    started_at: Any,
    completion: endpoints.ChatCompletion,
    shortfall: str,
) -> GenerationOutcome:
    """An answer with no text (after its reasoning), or shorter than ARENA_ANSWER_MIN_CHARS, never
    reaches voters: it is an attempt that failed. A contender without a fixed seed is asked again with
    a new one (the same seed would give the same answer); with a fixed seed the answer fails. Not the
    contender's failure: it answered."""
    message = (
        f"the model sent {shortfall} (finish_reason {completion.finish_reason or 'none'}, "
        f"{completion.completion_tokens if completion.completion_tokens is not None else '?'} tokens)"
    )
    reseed = answer.contender.seed is None
    error: endpoints.EndpointError = (
        endpoints.RetryableEndpointError(message) if reseed else endpoints.PermanentEndpointError(message)
    )
    return _record_failure(
        answer, token, attempt, started_at, error, random.Random(), new_seed=reseed, contender_failed=False
    )


def _record_done(
    answer: Answer,
    token: uuid.UUID,
    attempt: int,
    started_at: Any,
    completion: endpoints.ChatCompletion,
    text: str,
    reasoning: str,
    repairs: str,
) -> GenerationOutcome:
    finished_at = timezone.now()
    leaks = answer_leaks(text)
    with transaction.atomic():
        saved = Answer.objects.filter(pk=answer.pk, status=Answer.Status.RUNNING, claim_token=token).update(
            status=Answer.Status.DONE,
            text=text,
            server_queue_ms=completion.server_queue_ms,
            server_prompt_ms=completion.server_prompt_ms,
            server_generation_ms=completion.server_generation_ms,
            html=render_markdown(text),
            leaks=leaks,
            **answer_style_fields(text),
            reasoning=reasoning,
            repairs=repairs,
            error="",
            parameters=answer.parameters,
            latency_ms=completion.latency_ms,
            first_token_ms=completion.first_token_ms,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason or "",
            is_truncated=completion.truncated,
            finished_at=finished_at,
            claim_token=None,
            lease_expires_at=None,
        )
        if not saved:
            # The lease ran out and the answer went back to the queue: another claim owns it now.
            logger.warning("answer %s finished after its claim was taken back; result dropped", answer.pk)
            return GenerationOutcome("claim_lost")
        AnswerAttempt.objects.create(
            answer_id=answer.pk,
            number=attempt,
            started_at=started_at,
            finished_at=finished_at,
            outcome=AnswerAttempt.Outcome.SUCCEEDED,
            status_code=completion.status_code,
            latency_ms=completion.latency_ms,
            seed=answer.seed,
        )
        answer.status = Answer.Status.DONE
        answer.leaks = leaks
        battles_advance_for_answer(answer=answer)
        _contender_success_record(answer.contender, finished_at)
        if completion.latency_ms is not None:
            answer_latency_count(contender_id=answer.contender_id, latency_ms=completion.latency_ms)
    return GenerationOutcome(Answer.Status.DONE)


def _contender_success_record(contender: Contender, finished_at: datetime) -> None:
    """Reset the failure count; while a contender is healthy, refresh last_success_at only now and then."""
    recent = (
        contender.last_success_at is not None
        and finished_at - contender.last_success_at < _SUCCESS_RESOLUTION
    )
    if contender.consecutive_failures == 0 and recent:
        return
    Contender.objects.filter(pk=contender.pk).update(consecutive_failures=0, last_success_at=finished_at)


def _record_failure(
    answer: Answer,
    token: uuid.UUID,
    attempt: int,
    started_at: Any,
    error: endpoints.EndpointError,
    rng: random.Random,
    *,
    new_seed: bool = False,
    contender_failed: bool = True,
) -> GenerationOutcome:
    """Record a failed attempt: retried later (with a new seed if `new_seed`) or the answer failed;
    counted against the contender unless the failure was the request's own (or not `contender_failed`)."""
    from battles.tasks import answer_generate_task

    finished_at = timezone.now()
    message = str(error)
    will_retry = (
        isinstance(error, endpoints.RetryableEndpointError)
        and attempt < settings.ARENA_GENERATION_MAX_ATTEMPTS
    )
    delay = retry_delay_seconds(attempt=attempt, retry_after_seconds=error.retry_after_seconds, rng=rng)
    logger.warning(
        "answer %s attempt %s from contender %s failed: %s", answer.pk, attempt, answer.contender_id, message
    )
    with transaction.atomic():
        claim = Answer.objects.filter(pk=answer.pk, status=Answer.Status.RUNNING, claim_token=token)
        common = {
            "error": message,
            "claim_token": None,
            "lease_expires_at": None,
            "parameters": answer.parameters,
        }
        if will_retry:
            if new_seed:
                common["seed"] = rng.randrange(SEED_RANGE)
            saved = claim.update(
                status=Answer.Status.PENDING, retry_at=finished_at + timedelta(seconds=delay), **common
            )
        else:
            saved = claim.update(status=Answer.Status.FAILED, finished_at=finished_at, **common)
        if not saved:
            return GenerationOutcome("claim_lost")
        AnswerAttempt.objects.create(
            answer_id=answer.pk,
            number=attempt,
            started_at=started_at,
            finished_at=finished_at,
            outcome=AnswerAttempt.Outcome.RETRYABLE_ERROR
            if will_retry
            else AnswerAttempt.Outcome.PERMANENT_ERROR,
            status_code=error.status_code,
            error=message,
            retry_in_seconds=delay if will_retry else None,
            seed=answer.seed,
        )
        if will_retry:
            transaction.on_commit(
                partial(answer_generate_task.apply_async, (answer.pk,), countdown=delay), robust=True
            )
        else:
            answer.status = Answer.Status.FAILED
            battles_advance_for_answer(answer=answer)
        if contender_failed and error.status_code not in _REQUEST_SPECIFIC_STATUSES:
            contender_failure_record(contender_id=answer.contender_id, error=message, started_at=started_at)
    return GenerationOutcome("retrying" if will_retry else Answer.Status.FAILED)
