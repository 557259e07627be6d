"""Celery tasks: thin, idempotent wrappers that take ids and call one service."""

from celery import shared_task
from django.db import connection

from arena.heartbeat import DATABASE_RETRY, periodic_run
from arena.stores import BROKER, call
from battles.models import MAX_REQUEST_TIMEOUT_SECONDS
from battles.services.generation import answer_generate
from battles.services.health import answers_sweep, contender_recovery_probe, contenders_probe_due
from battles.services.pool import battle_pool_refill_locked
from battles.services.tallies import votes_tally

# Tasks that call a model endpoint: limits above the longest request a contender may be allowed, so
# that they only stop a stuck worker.
_ENDPOINT_CALL = {
    "acks_late": True,
    "ignore_result": True,
    "soft_time_limit": MAX_REQUEST_TIMEOUT_SECONDS + 30,
    "time_limit": MAX_REQUEST_TIMEOUT_SECONDS + 60,
    **DATABASE_RETRY,
}


@shared_task(**_ENDPOINT_CALL)
def answer_generate_task(answer_id: int) -> str:
    try:
        outcome = answer_generate(answer_id=answer_id)
    finally:
        # Hundreds of these run at once in one worker: none keeps a database connection between tasks.
        connection.close()
    if outcome.retry_in_seconds is not None and outcome.status == "deferred":
        # Without a broker the answer stays pending with its retry time, and the sweeper queues it.
        call(
            BROKER,
            "queue an answer's retry",
            lambda: answer_generate_task.apply_async((answer_id,), countdown=outcome.retry_in_seconds),
            fallback=lambda: None,
        )
    return outcome.status


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True, **DATABASE_RETRY)
def battle_pool_refill_task(periodic: bool = False) -> int:
    with periodic_run("battle_pool_refill_task", periodic=periodic):
        return len(battle_pool_refill_locked())


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True, **DATABASE_RETRY)
def answers_sweep_task(periodic: bool = False) -> int:
    with periodic_run("answers_sweep_task", periodic=periodic):
        return len(answers_sweep().answers_requeued)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True, **DATABASE_RETRY)
def contenders_probe_task(periodic: bool = False) -> int:
    with periodic_run("contenders_probe_task", periodic=periodic):
        return len(contenders_probe_due())


@shared_task(**_ENDPOINT_CALL)
def contender_probe_task(contender_id: int) -> str:
    try:
        restored = contender_recovery_probe(contender_id=contender_id)
    finally:
        connection.close()
    return {True: "restored", False: "still failing", None: "not due"}[restored]


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True, **DATABASE_RETRY)
def votes_tally_task(periodic: bool = False) -> int:
    with periodic_run("votes_tally_task", periodic=periodic):
        return len(votes_tally().hours_counted)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True, **DATABASE_RETRY)
def integrity_sweep_task(periodic: bool = False) -> int:
    """Score the recent votes and leave out the suspicious ones (battles/services/integrity.py)."""
    from battles.services.integrity import integrity_sweep_locked

    with periodic_run("integrity_sweep_task", periodic=periodic):
        result = integrity_sweep_locked()
        return result.votes_changed if result else 0


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True, **DATABASE_RETRY)
def answers_leak_scan_task() -> int:
    """Mark the answers that name a model after aliases changed, and apply what was found."""
    from battles.services.leaks import answers_leak_scan

    return answers_leak_scan().answers_marked
