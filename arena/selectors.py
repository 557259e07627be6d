"""Readiness: what the arena needs to serve voters, checked now, as one JSON document."""

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone

from arena import stores
from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat

READY, DEGRADED, NOT_READY = "ready", "degraded", "not_ready"
# Periodic tasks, by the name their runs are recorded under, and their interval's setting.
PERIODIC_TASKS = {
    "battle_pool_refill_task": "ARENA_POOL_REFILL_INTERVAL_SECONDS",
    "answers_sweep_task": "ARENA_SWEEP_INTERVAL_SECONDS",
    "contenders_probe_task": "ARENA_SWEEP_INTERVAL_SECONDS",
    "ratings_refresh_task": "ARENA_RATINGS_REFRESH_INTERVAL_SECONDS",
    "votes_tally_task": "ARENA_VOTES_TALLY_INTERVAL_SECONDS",
    "ratings_history_thin_task": None,  # hourly
    "integrity_sweep_task": "ARENA_INTEGRITY_SWEEP_SECONDS",
    "verdicts_schedule_task": "ARENA_JUDGE_SCHEDULE_INTERVAL_SECONDS",
    "judge_board_refresh_task": "ARENA_JUDGE_BOARD_INTERVAL_SECONDS",
}
# Periodic tasks scheduled only when their setting is on.
_PERIODIC_WHEN = {"integrity_sweep_task": "ARENA_INTEGRITY_ENABLED"}
# A periodic task is late once it has not run for two intervals and this margin.
_LATE_MARGIN_SECONDS = 30


def _timed(check: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result: dict[str, Any] = check()
    except Exception as error:  # reported, never raised: this is a health check
        result = {"status": "unreachable", "error": f"{type(error).__name__}: {error}"[:300]}
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok"}


def _cache() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": "ok", "backend": "database"}
    client = cache._cache.get_client(write=False)  # type: ignore[attr-defined]
    client.ping()
    return {"status": "ok", "backend": "redis"}


# The queues the workers consume (make run's and the compose file's workers).
BROKER_QUEUES = ("celery", "generation")


def _broker(queue_depths: bool) -> dict[str, Any]:
    from arena.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=1)
        result: dict[str, Any] = {"status": "ok", "transport": broker.transport_cls}
        if queue_depths:
            # Declaring a queue of the broker's virtual transports (Redis, the embedded one) only
            # reads its size; the worker declares the same queues at start.
            channel = broker.default_channel
            result["queues"] = {
                queue: channel.queue_declare(queue=queue).message_count for queue in BROKER_QUEUES
            }
        return result


def queue_depths_of(report: dict[str, Any]) -> dict[str, int | None]:
    """Messages waiting in each queue, from a readiness(queue_depths=True) report (None for each
    while the broker cannot be reached)."""
    depths: dict[str, int | None] = report["checks"].get("broker", {}).get("queues") or {}
    return {queue: depths.get(queue) for queue in BROKER_QUEUES}


def _workers(now: Any) -> dict[str, Any]:
    stale_after = settings.ARENA_WORKER_STALE_SECONDS
    recent = WorkerHeartbeat.objects.filter(last_seen_at__gte=now - timedelta(hours=1))
    workers = [
        {
            "name": worker.name,
            "queues": worker.queues,
            "seconds_since_seen": round((now - worker.last_seen_at).total_seconds(), 1),
            "alive": worker.stopped_at is None and (now - worker.last_seen_at).total_seconds() <= stale_after,
            # Shut down cleanly (a restart, a scale-down), not lost.
            "stopped": worker.stopped_at is not None,
            "tasks_done": worker.tasks_done,
            "started_at": worker.started_at.isoformat(),
        }
        for worker in recent
    ]
    # Working first, then the lost (what needs looking at), then the stopped.
    workers.sort(key=lambda worker: (not worker["alive"], worker["stopped"], worker["name"]))
    alive = [worker for worker in workers if worker["alive"]]
    return {
        "status": "ok" if alive else "missing",
        "alive": len(alive),
        "stale_after_seconds": stale_after,
        "workers": workers,
    }


def workers_heard_from(workers: list[dict[str, Any]], *, within_seconds: float) -> int:
    """How many of readiness()'s workers beat within the last `within_seconds` and have not stopped."""
    return sum(
        1 for worker in workers if worker["seconds_since_seen"] <= within_seconds and not worker["stopped"]
    )


def _beat(now: Any, arena_up_since: Any) -> dict[str, Any]:
    runs = {run.task: run for run in PeriodicTaskRun.objects.all()}
    tasks: dict[str, Any] = {}
    late = []
    for task, setting in PERIODIC_TASKS.items():
        if task in _PERIODIC_WHEN and not getattr(settings, _PERIODIC_WHEN[task]):
            continue
        interval = float(getattr(settings, setting)) if setting else 3600.0
        allowed = 2 * interval + _LATE_MARGIN_SECONDS
        run = runs.get(task)
        if run is None:
            waited = None if arena_up_since is None else (now - arena_up_since).total_seconds()
            is_late = waited is not None and waited > allowed
            tasks[task] = {"last_run_at": None, "interval_seconds": interval, "late": is_late}
        else:
            since = (now - run.last_run_at).total_seconds()
            is_late = since > allowed
            tasks[task] = {
                "last_run_at": run.last_run_at.isoformat(),
                "seconds_since_run": round(since, 1),
                "interval_seconds": interval,
                "runs": run.runs,
                "last_error": run.last_error,
                "late": is_late,
            }
        if is_late:
            late.append(task)
    return {"status": "late" if late else "ok", "late": late, "tasks": tasks}


def pool_counted_up_to() -> int:
    """How far readiness counts the battles of each pool state: well past the target."""
    return max(1000, 10 * settings.ARENA_POOL_TARGET)


def _pool() -> dict[str, Any]:
    from battles.selectors import pool_counts

    up_to = pool_counted_up_to()
    counts = pool_counts(up_to=up_to)
    target = settings.ARENA_POOL_TARGET
    status = "ok" if counts["ready"] > 0 or target == 0 else "empty"
    return {"status": status, "target": target, **counts, "counted_up_to": up_to}


def _outages() -> list[dict[str, Any]]:
    return [
        {
            "store": outage.store,
            "started_at": outage.started_at.isoformat(),
            "ended_at": outage.ended_at.isoformat() if outage.ended_at else None,
            "calls_without_it": outage.fallback_total,
            "by_purpose": outage.fallbacks,
            "last_error": outage.last_error,
        }
        for outage in StoreOutage.objects.all()[:5]
    ]


def readiness_public(report: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of the report: statuses and counts, not worker names, process ids, error
    texts or outage details (those are for staff)."""
    kept = {
        "status",
        "latency_ms",
        "alive",
        "late",
        "target",
        "ready",
        "held",
        "generating",
        "counted_up_to",
    }
    checks = {
        name: {key: value for key, value in check.items() if key in kept}
        for name, check in report["checks"].items()
    }
    return {"status": report["status"], "checks": checks}


def readiness(*, queue_depths: bool = False) -> dict[str, Any]:
    """Every check, and an overall status: "not_ready" when voters cannot be served (no database,
    or no battle ready and no worker alive to prepare one), "degraded" when they are served but
    something needs attention, "ready" when all is well. With `queue_depths`, the broker's check
    also counts the messages waiting in each queue (see queue_depths_of), on the same connection."""
    checks: dict[str, Any] = {"database": _timed(_database)}
    checks["cache"] = _timed(_cache)
    checks["broker"] = _timed(lambda: _broker(queue_depths))
    if checks["database"]["status"] != "ok":
        return {"status": NOT_READY, "checks": checks, "outages": []}
    now = timezone.now()
    try:
        checks["workers"] = _workers(now)
        up_since = WorkerHeartbeat.objects.order_by("started_at").values_list("started_at", flat=True).first()
        checks["beat"] = _beat(now, up_since)
        checks["pool"] = _pool()
        outages = _outages()
    except DatabaseError as error:
        checks["database"] = {"status": "unreachable", "error": str(error)[:300]}
        return {"status": NOT_READY, "checks": checks, "outages": []}
    if checks["pool"]["status"] != "ok" and checks["workers"]["status"] != "ok":
        status = NOT_READY
    elif all(check["status"] == "ok" for check in checks.values()):
        status = READY
    else:
        status = DEGRADED
    for store in (stores.CACHE, stores.BROKER):
        if stores.is_failing(store):
            checks.setdefault(store, {})["failing_open_here"] = True
    return {"status": status, "checks": checks, "outages": outages}
