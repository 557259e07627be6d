"""Celery tasks: thin, idempotent wrappers that take ids and call one service."""

from celery import shared_task
from django.core.cache import cache
from django.db import connection

from battles.models import MAX_REQUEST_TIMEOUT_SECONDS
from battles.services.generation import answer_generate
from battles.services.health import answers_sweep, contenders_probe_due
from battles.services.pool import battle_pool_refill

_REFILL_LOCK_KEY = "battles:pool:refill-lock"


@shared_task(
    acks_late=True,
    ignore_result=True,
    # Above the longest request a contender may be allowed, so the limits only stop a stuck worker.
    soft_time_limit=MAX_REQUEST_TIMEOUT_SECONDS + 30,
    time_limit=MAX_REQUEST_TIMEOUT_SECONDS + 60,
)
def answer_generate_task(answer_id: int) -> str:
    try:
        outcome = answer_generate(answer_id=answer_id)
    finally:
        # Hundreds of these run at once in one worker: none keeps a database connection between tasks.
        connection.close()
    if outcome.retry_in_seconds is not None and outcome.status == "deferred":
        answer_generate_task.apply_async((answer_id,), countdown=outcome.retry_in_seconds)
    return outcome.status


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True)
def battle_pool_refill_task() -> int:
    # Two refills at once would both see the same shortfall and overfill the pool.
    if not cache.add(_REFILL_LOCK_KEY, "1", timeout=150):
        return 0
    try:
        return len(battle_pool_refill().battles_created)
    finally:
        cache.delete(_REFILL_LOCK_KEY)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True)
def answers_sweep_task() -> int:
    return len(answers_sweep().answers_requeued)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def contenders_probe_task() -> int:
    return sum(contenders_probe_due().values())
