"""The worker survives Redis restarts with unacknowledged messages in hand: before arena/broker.py,
kombu raised AttributeError ('NoneType' object has no attribute 'hostname') while restoring them and
the worker stopped for good. A real worker on a private Redis, restarted three times."""

import re

import pytest
import redis
from django.utils import timezone

from arena.models import PeriodicTaskRun, WorkerHeartbeat
from ratings.models import RatingSnapshot
from tests.factories import VoteFactory
from tests.private_stores import private_redis
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RESTORING = re.compile(r"Restoring (\d+) unacknowledged message")


def _send(url: str, task: str, **options: object) -> None:
    """Queue a task on the private broker, as the web process would."""
    from arena.celery import app

    with app.connection_for_write(url) as connection:
        app.send_task(task, connection=connection, **options)


def test_the_worker_reconnects_after_each_restart_and_keeps_consuming(tmp_path):
    with private_redis() as store, worker_process(REDIS_URL=store.url(0)) as worker:
        broker = redis.Redis(port=store.port)
        for restart in range(3):
            # Messages the worker holds unacknowledged: tasks due later (ETA), kept in the worker.
            for _ in range(3):
                _send(store.url(0), "battles.tasks.answers_sweep_task", countdown=600)
            wait_until(lambda: broker.hlen("unacked") >= 3, timeout_seconds=30, message="unacked messages")
            store.restart(down_seconds=0.5)
            wait_until(
                lambda n=restart: "".join(worker.lines).count("Connected to") >= n + 2,
                timeout_seconds=90,
                message="the worker reconnecting:\n" + "".join(worker.lines[-30:]),
            )
        assert worker.process.poll() is None
        # The path that used to crash; the line may reach us a moment after "Connected to". The count
        # is at least the three held back: a catch-up refresh queued on connecting may be in hand too.
        wait_until(
            lambda: any(int(n) >= 3 for n in RESTORING.findall("".join(worker.lines))),
            timeout_seconds=30,
            message="the worker restoring its messages:\n" + "".join(worker.lines[-30:]),
        )
        output = "".join(worker.lines)
        assert "Unrecoverable error" not in output and "AttributeError" not in output
        # And it still consumes: a vote reaches the board through a refresh queued now.
        VoteFactory()
        _send(store.url(0), "ratings.tasks.ratings_refresh_task")
        wait_until(lambda: RatingSnapshot.objects.exists(), timeout_seconds=60, message="a refresh")


def test_after_connecting_the_worker_catches_up_and_reports_itself(tmp_path):
    VoteFactory()  # a vote whose refresh could not be queued (nothing was sent for it)
    started = timezone.now()
    with (
        private_redis() as store,
        worker_process(
            REDIS_URL=store.url(0),
            ARENA_WORKER_HEARTBEAT_SECONDS="1",
            ARENA_RATINGS_REFRESH_INTERVAL_SECONDS="3600",
            ARENA_POOL_REFILL_INTERVAL_SECONDS="1",
            beat_schedule=tmp_path / "beat-schedule",
        ),
    ):
        # The catch-up queued on connecting refreshes the board; beat's hourly refresh has not come.
        wait_until(lambda: RatingSnapshot.objects.exists(), timeout_seconds=60, message="the catch-up")
        heartbeat = wait_until(
            lambda: WorkerHeartbeat.objects.filter(last_seen_at__gte=started).first(),
            timeout_seconds=30,
            message="a heartbeat",
        )
        assert heartbeat.pid > 0 and "celery" in heartbeat.queues and "generation" in heartbeat.queues
        run = wait_until(
            lambda: PeriodicTaskRun.objects.filter(task="battle_pool_refill_task", runs__gte=2).first(),
            timeout_seconds=30,
            message="beat's refills",
        )
        assert run.last_run_at >= started and run.last_error == ""
        seen = heartbeat.last_seen_at
        wait_until(
            lambda: WorkerHeartbeat.objects.get(pk=heartbeat.pk).last_seen_at > seen,
            timeout_seconds=30,
            message="a second heartbeat",
        )
