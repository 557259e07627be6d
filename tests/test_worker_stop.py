"""A worker that shuts down cleanly (a restart, a scale-down) says so: staff see it stopped, not
lost, and only a worker that vanished without a word (killed, crashed) is shown as gone."""

import threading

import pytest

from arena import heartbeat
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


def test_the_heartbeat_thread_records_the_stop_after_its_last_beat(settings):
    """The heartbeat thread is the only writer of its row: it records the stop once it has stopped
    beating, so no beat in flight can clear the stop afterwards."""
    settings.ARENA_WORKER_HEARTBEAT_SECONDS = 0.05
    heartbeat._state.stop.clear()
    thread = threading.Thread(target=heartbeat._beat, args=("celery@unit:1", "celery", None))
    thread.start()
    try:
        wait_until(
            lambda: WorkerHeartbeat.objects.filter(name="celery@unit:1").count() == 1,
            timeout_seconds=10,
            message="a beat",
        )
        assert WorkerHeartbeat.objects.get(name="celery@unit:1").stopped_at is None
    finally:
        heartbeat._state.stop.set()
        thread.join(timeout=10)
    row = WorkerHeartbeat.objects.get(name="celery@unit:1")
    assert not thread.is_alive() and row.stopped_at is not None and row.stopped_at >= row.last_seen_at
    heartbeat._state.stop.clear()
