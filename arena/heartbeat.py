"""What a worker tells the readiness endpoint and staff: that it is alive (a heartbeat row every
ARENA_WORKER_HEARTBEAT_SECONDS, and a file's time for container health checks), how many tasks it
has done, and when each periodic task last ran. After each (re)connection to the broker it queues a
catch-up: whatever could not be queued while the broker was away (a ratings refresh after votes, a
pool refill) happens at once instead of at beat's next tick."""

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

logger = logging.getLogger("arena.heartbeat")

# Task options: the database may restart under a running worker; the task runs again a little later.
DATABASE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


class _WorkerState:
    def __init__(self) -> None:
        self.tasks_done = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started_at: datetime | None = None
        self.name = ""
        self.thread: threading.Thread | None = None


_state = _WorkerState()


def task_done(**_: Any) -> None:
    """Celery's task_postrun signal."""
    with _state.lock:
        _state.tasks_done += 1


def worker_started(sender: Any, **_: Any) -> None:
    """Celery's worker_ready signal: start beating."""
    _state.started_at = timezone.now()
    _state.stop.clear()
    consumer = getattr(sender, "consumer", sender)
    queues = ",".join(sorted(sender.app.amqp.queues.consume_from or sender.app.amqp.queues))
    name = f"{sender.hostname}:{os.getpid()}"
    _state.name = name
    _state.thread = threading.Thread(
        target=_beat, args=(name, queues, consumer), name="arena-heartbeat", daemon=True
    )
    _state.thread.start()


def worker_stopping(**_: Any) -> None:
    """Celery's worker_shutdown signal: stop beating, and give the heartbeat thread a moment to record
    the stop (it is the only writer of the worker's row, so no late beat can clear the stop)."""
    _state.stop.set()
    if _state.thread is not None:
        _state.thread.join(timeout=settings.ARENA_WORKER_HEARTBEAT_SECONDS + 5)


def _beat(name: str, queues: str, consumer: Any) -> None:
    from arena.services import worker_heartbeat_record, worker_stopped_record

    heartbeat_file = settings.ARENA_WORKER_HEARTBEAT_FILE
    while not _state.stop.is_set():
        if heartbeat_file:
            try:
                Path(heartbeat_file).touch()
            except OSError:
                logger.warning("cannot touch the heartbeat file %s", heartbeat_file, exc_info=True)
        try:
            worker_heartbeat_record(
                name=name,
                pid=os.getpid(),
                queues=queues,
                started_at=_state.started_at or timezone.now(),
                tasks_done=_state.tasks_done,
                broker_connected=bool(getattr(consumer, "connection", None)),
            )
        except Exception:  # the database may be away for a while: beat again later
            logger.debug("heartbeat not recorded", exc_info=True)
        finally:
            connection.close()
        _state.stop.wait(settings.ARENA_WORKER_HEARTBEAT_SECONDS)
    try:
        worker_stopped_record(name=name)
    except Exception:  # the database may be away: the worker then shows as lost once silent
        logger.warning("the worker's stop was not recorded", exc_info=True)
    finally:
        connection.close()


class CatchUpOnConnect(bootsteps.StartStopStep):
    """A consumer step: started on every (re)connection to the broker."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer: Any) -> None:
        app = consumer.app
        try:
            app.send_task("ratings.tasks.ratings_refresh_task", kwargs={"categories": True})
            app.send_task("battles.tasks.battle_pool_refill_task")
        except Exception:  # connected a moment ago; if it is gone again, beat does it later
            logger.warning("could not queue the catch-up after connecting to the broker", exc_info=True)
            return
        logger.info("connected to the broker: ratings refresh and pool refill queued")


@contextmanager
def periodic_run(task: str, *, periodic: bool) -> Iterator[None]:
    """Record a run of a task beat scheduled (`periodic`), with its duration and error if any."""
    if not periodic:
        yield
        return
    from arena.services import periodic_run_record

    started_at = timezone.now()
    started = time.monotonic()
    error = ""
    try:
        yield
    except Exception as failure:
        error = f"{type(failure).__name__}: {failure}"
        raise
    finally:
        try:
            periodic_run_record(
                task=task,
                started_at=started_at,
                duration_ms=round((time.monotonic() - started) * 1000),
                error=error,
            )
        except Exception:
            logger.debug("periodic run of %s not recorded", task, exc_info=True)
