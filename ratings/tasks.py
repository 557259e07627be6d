from celery import shared_task

from ratings.services import ratings_history_thin, ratings_refresh_locked


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def ratings_refresh_task(categories: bool = False) -> int | None:
    snapshot = ratings_refresh_locked(categories=categories)
    return snapshot.pk if snapshot else None


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def ratings_history_thin_task() -> int:
    return ratings_history_thin()
