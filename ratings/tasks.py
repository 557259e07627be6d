from celery import shared_task

from arena.heartbeat import DATABASE_RETRY, periodic_run
from ratings.services import ratings_history_thin, ratings_refresh_locked


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True, **DATABASE_RETRY)
def ratings_refresh_task(categories: bool = False, periodic: bool = False) -> int | None:
    with periodic_run("ratings_refresh_task", periodic=periodic):
        snapshot = ratings_refresh_locked(categories=categories, queued=True)
    return snapshot.pk if snapshot else None


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True, **DATABASE_RETRY)
def ratings_history_thin_task(periodic: bool = False) -> int:
    with periodic_run("ratings_history_thin_task", periodic=periodic):
        return ratings_history_thin()
