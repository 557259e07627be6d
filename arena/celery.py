import os

from celery import Celery
from celery.signals import task_postrun, worker_ready, worker_shutdown, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _connect_worker_signals() -> None:
    from arena.heartbeat import CatchUpOnConnect, task_done, worker_started, worker_stopping

    worker_ready.connect(worker_started, weak=False)
    worker_shutting_down.connect(_endpoint_calls_cancel, weak=False)
    worker_shutdown.connect(worker_stopping, weak=False)
    task_postrun.connect(task_done, weak=False)
    app.steps["consumer"].add(CatchUpOnConnect)


def _endpoint_calls_cancel(**_: object) -> None:
    """A worker asked to stop closes its endpoint connections at once: each call in flight ends as a
    retryable attempt (the answer goes back to the queue) and the server stops generating for it,
    instead of the shutdown waiting for every answer to finish."""
    from battles.endpoint_client import calls_abort

    calls_abort("the worker is shutting down")


_connect_worker_signals()


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **_: object) -> None:
    from django.conf import settings

    def every(seconds: float, task: str, name: str, **kwargs: object) -> None:
        # A tick that no worker takes within its interval expires: workers that were down find one
        # run waiting, not a pile. `periodic` lets the task record its run for the readiness check.
        sender.add_periodic_task(
            seconds,
            sender.signature(task, kwargs={**kwargs, "periodic": True}, options={"expires": seconds}),
            name=name,
        )

    every(
        settings.ARENA_POOL_REFILL_INTERVAL_SECONDS,
        "battles.tasks.battle_pool_refill_task",
        "keep the pool of ready battles full",
    )
    every(settings.ARENA_SWEEP_INTERVAL_SECONDS, "battles.tasks.answers_sweep_task", "return lost answers")
    every(
        settings.ARENA_VOTES_TALLY_INTERVAL_SECONDS,
        "battles.tasks.votes_tally_task",
        "count votes for the dashboard",
    )
    every(
        settings.ARENA_SWEEP_INTERVAL_SECONDS,
        "battles.tasks.contenders_probe_task",
        "probe contenders paused after failures",
    )
    every(
        settings.ARENA_RATINGS_REFRESH_INTERVAL_SECONDS,
        "ratings.tasks.ratings_refresh_task",
        "refresh ratings, categories too",
        categories=True,
    )
    every(3600, "ratings.tasks.ratings_history_thin_task", "thin the ratings history")
    every(
        settings.ARENA_JUDGE_SCHEDULE_INTERVAL_SECONDS,
        "judges.tasks.verdicts_schedule_task",
        "give the judges the battles they owe",
    )
    every(
        settings.ARENA_JUDGE_BOARD_INTERVAL_SECONDS,
        "judges.tasks.judge_board_refresh_task",
        "refit the judge board",
    )
    if settings.ARENA_INTEGRITY_ENABLED:
        every(
            settings.ARENA_INTEGRITY_SWEEP_SECONDS,
            "battles.tasks.integrity_sweep_task",
            "score the votes, leave out the suspicious",
        )
