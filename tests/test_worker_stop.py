"""A worker that shuts down cleanly (a restart, a scale-down) says so: staff see it stopped, not
lost, and only a worker that vanished without a word (killed, crashed) is shown as gone."""

import pytest

from arena.models import WorkerHeartbeat
from arena.selectors import readiness
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _heartbeat_of(worker) -> WorkerHeartbeat:  # type: ignore[no-untyped-def]
    return wait_until(
        lambda: WorkerHeartbeat.objects.filter(pid=worker.process.pid).first(),
        timeout_seconds=30,
        message="the worker's heartbeat",
    )


def test_a_worker_stopped_cleanly_is_recorded_stopped_and_a_killed_one_is_not():
    with worker_process(ARENA_WORKER_HEARTBEAT_SECONDS="1") as stopped:
        first = _heartbeat_of(stopped)
        assert first.stopped_at is None
    # worker_process stops it with SIGTERM: Celery's warm shutdown.
    assert WorkerHeartbeat.objects.get(pk=first.pk).stopped_at is not None

    with worker_process(ARENA_WORKER_HEARTBEAT_SECONDS="1") as killed:
        second = _heartbeat_of(killed)
        killed.kill()
    assert WorkerHeartbeat.objects.get(pk=second.pk).stopped_at is None

    workers = {worker["name"]: worker for worker in readiness()["checks"]["workers"]["workers"]}
    assert workers[first.name]["stopped"] is True and workers[first.name]["alive"] is False
    assert workers[second.name]["stopped"] is False
