"""Celery tasks of the judges: thin, idempotent wrappers that take ids and call one service."""

from celery import shared_task
from django.db import connection

from arena.heartbeat import DATABASE_RETRY, periodic_run
from arena.stores import BROKER, call
from battles.tasks import _ENDPOINT_CALL
from judges.services.judging import verdict_judge


@shared_task(**_ENDPOINT_CALL)
def verdict_judge_task(verdict_id: int) -> str:
    try:
        outcome = verdict_judge(verdict_id=verdict_id)
    finally:
        connection.close()  # hundreds run at once in one worker: none keeps a connection
    if outcome.retry_in_seconds is not None and outcome.status == "deferred":
        call(
            BROKER,
            "queue a verdict's retry",
            lambda: verdict_judge_task.apply_async((verdict_id,), countdown=outcome.retry_in_seconds),
            fallback=lambda: None,
        )
    return outcome.status


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True, **DATABASE_RETRY)
def verdicts_schedule_task(periodic: bool = False) -> int:
    from judges.services.scheduling import verdicts_schedule

    with periodic_run("verdicts_schedule_task", periodic=periodic):
        return sum(verdicts_schedule().created.values())


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True, **DATABASE_RETRY)
def judge_board_refresh_task(periodic: bool = False) -> int:
    from judges.services.board import judge_boards_refresh

    with periodic_run("judge_board_refresh_task", periodic=periodic):
        return len(judge_boards_refresh())
