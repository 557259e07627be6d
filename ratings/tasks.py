from celery import shared_task

from ratings.services import ratings_refresh_locked


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def ratings_refresh_task() -> int | None:
    snapshot = ratings_refresh_locked()
    return snapshot.pk if snapshot else None
