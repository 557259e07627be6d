"""Write paths of the operations tables: store outages, worker heartbeats, periodic task runs."""

from collections.abc import Mapping
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat


def store_outage_record(*, store: str, error: str, fallbacks: Mapping[str, int], ended: bool) -> None:
    """Add one process's view of an outage to its row: opened by the first process to see it, closed
    by the first to see the store again. Counts reported after the close go to the outage they
    belong to (the newest of that store)."""
    now = timezone.now()
    with transaction.atomic():
        outage = StoreOutage.objects.select_for_update().filter(store=store, ended_at__isnull=True).first()
        if outage is None and ended:
            outage = StoreOutage.objects.select_for_update().filter(store=store).first()
            if outage is None:
                return
        if outage is None:
            try:
                with transaction.atomic():
                    outage = StoreOutage.objects.create(store=store, started_at=now, last_error=error)
            except IntegrityError:  # another process opened it a moment ago
                outage = StoreOutage.objects.select_for_update().get(store=store, ended_at__isnull=True)
        merged = dict(outage.fallbacks)
        for purpose, count in fallbacks.items():
            merged[purpose] = int(merged.get(purpose, 0)) + count
        outage.fallbacks = merged
        outage.fallback_total += sum(fallbacks.values())
        outage.last_error = error or outage.last_error
        if ended and outage.ended_at is None:
            outage.ended_at = now
        outage.save()


def worker_heartbeat_record(
    *, name: str, pid: int, queues: str, started_at: datetime, tasks_done: int, broker_connected: bool
) -> None:
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={
            "pid": pid,
            "queues": queues[:200],
            "started_at": started_at,
            "last_seen_at": timezone.now(),
            "tasks_done": tasks_done,
            "broker_connected": broker_connected,
        },
    )


def periodic_run_record(*, task: str, started_at: datetime, duration_ms: int, error: str = "") -> None:
    updated = PeriodicTaskRun.objects.filter(task=task).update(
        last_run_at=started_at, last_duration_ms=duration_ms, runs=F("runs") + 1, last_error=error[:2000]
    )
    if not updated:
        try:
            with transaction.atomic():
                PeriodicTaskRun.objects.create(
                    task=task, last_run_at=started_at, last_duration_ms=duration_ms, runs=1, last_error=error
                )
        except IntegrityError:
            periodic_run_record(task=task, started_at=started_at, duration_ms=duration_ms, error=error)
