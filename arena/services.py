"""Write paths of the operations tables: store outages, worker heartbeats, periodic task runs, staff
login attempts."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from arena.models import LoginAttempt, PeriodicTaskRun, StoreOutage, WorkerHeartbeat


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
            "stopped_at": None,
        },
    )


def worker_stopped_record(*, name: str) -> None:
    """A worker shutting down cleanly: staff see it stopped, not lost."""
    WorkerHeartbeat.objects.filter(name=name).update(stopped_at=timezone.now())


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


@dataclass(frozen=True)
class LoginAttemptStarted:
    """An attempt allowed to check its password (`attempt_id`), or refused for `retry_after_seconds`."""

    attempt_id: int | None
    retry_after_seconds: int = 0


def login_attempt_start(*, username: str, address_hash: str) -> LoginAttemptStarted:
    """Count a staff login attempt before its password is checked, or refuse it: refused while this
    username, or this address, has ARENA_ADMIN_LOGIN_FAILURES_ALLOWED failed attempts in the last
    ARENA_ADMIN_LOGIN_WINDOW_SECONDS (a sliding window).

    The attempt is written first and counted after, each statement committing on its own: of
    attempts arriving together, each counts those written before it, so no more than the allowed
    number ever get their password checked. A refused attempt is taken back (it checked nothing).
    Call login_attempt_succeeded when the password was right; a failed attempt stays as it is.
    """
    now = timezone.now()
    window = timedelta(seconds=settings.ARENA_ADMIN_LOGIN_WINDOW_SECONDS)
    allowed = settings.ARENA_ADMIN_LOGIN_FAILURES_ALLOWED
    username = username[: LoginAttempt._meta.get_field("username").max_length]
    # Rows past the window count for nothing any more.
    LoginAttempt.objects.filter(attempted_at__lt=now - window).delete()
    attempt = LoginAttempt.objects.create(username=username, address_hash=address_hash, attempted_at=now)
    recent = LoginAttempt.objects.filter(attempted_at__gte=now - window)
    by_username, by_address = Q(username=username), Q(address_hash=address_hash)
    counts = recent.filter(by_username | by_address).aggregate(
        username=Count("id", filter=by_username), address=Count("id", filter=by_address)
    )
    over = [
        key
        for key, count in ((by_username, counts["username"]), (by_address, counts["address"]))
        if count > allowed
    ]
    if not over:
        return LoginAttemptStarted(attempt_id=attempt.pk)
    attempt.delete()
    # Allowed again once the failures of the window are fewer than allowed: when the allowed-th
    # newest of them leaves it.
    ends = []
    for key in over:
        failures = recent.filter(key).order_by("-attempted_at").values_list("attempted_at", flat=True)
        ends += [attempted_at + window for attempted_at in failures[allowed - 1 : allowed]]
    wait = max(ends, default=now + window) - now
    return LoginAttemptStarted(attempt_id=None, retry_after_seconds=max(1, math.ceil(wait.total_seconds())))


def login_attempt_succeeded(*, attempt_id: int) -> None:
    """The password of this attempt was right: its username's failures from its address are
    forgotten (those from other addresses still count)."""
    attempt = LoginAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:
        return
    LoginAttempt.objects.filter(username=attempt.username, address_hash=attempt.address_hash).delete()
