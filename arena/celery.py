import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.ARENA_POOL_REFILL_INTERVAL_SECONDS,
        sender.signature("battles.tasks.battle_pool_refill_task"),
        name="keep the pool of ready battles full",
    )
    sender.add_periodic_task(
        settings.ARENA_SWEEP_INTERVAL_SECONDS,
        sender.signature("battles.tasks.answers_sweep_task"),
        name="return lost answers to the queue",
    )
    sender.add_periodic_task(
        settings.ARENA_SWEEP_INTERVAL_SECONDS,
        sender.signature("battles.tasks.contenders_probe_task"),
        name="probe contenders paused after failures",
    )
    sender.add_periodic_task(
        settings.ARENA_RATINGS_REFRESH_INTERVAL_SECONDS,
        sender.signature("ratings.tasks.ratings_refresh_task", kwargs={"categories": True}),
        name="refresh ratings, categories too",
    )
    sender.add_periodic_task(
        3600, sender.signature("ratings.tasks.ratings_history_thin_task"), name="thin the ratings history"
    )
