"""Holding battles for voters, within limits that keep a loop of anonymous calls from draining the pool.

A battle served to a voter (or drawn for one) is held for them, out of the shared pool, until they
vote or ARENA_BATTLE_HOLD_SECONDS pass and the sweeper returns it to the pool. Starting a new hold is
limited per voter and per IP address each minute, and an address may hold at most
ARENA_HELD_BATTLES_PER_IP battles not voted on. New voters are limited per address each minute, as
each one starts a hold at once. A voter who already holds a battle always gets that battle back,
whatever the limits.

The minute windows live in Redis. Without it, new holds are counted in PostgreSQL instead (each
battle keeps its holder and the holder's address hash), so those limits still hold; new voters are
counted nowhere else, so that limit lets them through (counted as an outage, arena/stores.py). The
cap on battles held per address is always counted in PostgreSQL.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q, QuerySet

from arena import stores
from arena.cache import windows_count
from arena.locks import lock_held
from battles.models import Battle, Voter

# A battle in one of these states with a voter is out of the shared pool: served, or drawn for them.
HELD_STATUSES = [Battle.Status.GENERATING, Battle.Status.READY, Battle.Status.SERVED]
_WINDOW_SECONDS = 60
_HOLD_LOCK_WAIT_SECONDS = 5.0


class ServeLimited(Exception):
    """No new battle (or voter) now; the message is safe to show, and says which limit was reached."""

    def __init__(
        self, message: str, *, code: str, retry_after_seconds: float, details: dict[str, int] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_seconds = retry_after_seconds
        self.details = details or {}  # the numbers in the message, for a translation of it


@dataclass(frozen=True)
class _Window:
    """One minute's count of events of one kind, for one voter or address."""

    key: str
    limit: int
    code: str
    message: str
    counted: Callable[[], int]  # how many the window holds, from PostgreSQL, while Redis is away


def hold_seconds() -> float:
    return float(settings.ARENA_BATTLE_HOLD_SECONDS)


def hold_kept(*, battle: Battle, voter: Voter, now: datetime) -> bool:
    """Whether the voter still holds this battle served to them. A hold that ran out but was not
    swept yet is renewed: the voter is back, so they can plausibly vote on it now. False when the
    sweeper returned it to the pool meanwhile."""
    if battle.served_at is None or battle.served_at >= now - timedelta(seconds=hold_seconds()):
        return True
    renewed = Battle.objects.filter(pk=battle.pk, status=Battle.Status.SERVED, voter=voter).update(
        served_at=now
    )
    if renewed:
        battle.served_at = now
    return bool(renewed)


def battles_held(*, ip_hash: str) -> QuerySet[Battle]:
    """Battles held for voters at this address and not voted on."""
    return Battle.objects.filter(holder_ip_hash=ip_hash, status__in=HELD_STATUSES, voter__isnull=False)


@contextmanager
def holds_of_address(*, ip_hash: str) -> Iterator[None]:
    """One new hold at a time per address, so that calls arriving together cannot pass the cap
    together (a PostgreSQL advisory lock: no Redis needed). A call that waits longer than
    _HOLD_LOCK_WAIT_SECONDS for the address's other calls is refused like a call over the rate."""
    if not ip_hash:
        yield
        return
    with lock_held(f"battle-holds:{ip_hash}", wait=True, timeout_seconds=_HOLD_LOCK_WAIT_SECONDS) as held:
        if not held:
            raise ServeLimited(
                "too many new battles from your address this minute: please wait a minute",
                code="serve_ip_rate",
                retry_after_seconds=2.0,
            )
        yield


def hold_limits_check(*, voter: Voter | None, ip_hash: str, now: datetime) -> None:
    """Raise ServeLimited if a new hold for this voter (None: one about to be made) at this address
    would go over a limit. Nothing is counted here (see hold_counted): a call that starts no hold,
    such as a voter asking again while their battle is prepared, never uses up a limit."""
    full = _first_full(_hold_windows(voter=voter, ip_hash=ip_hash, now=now), purpose="limit new battles")
    if full is not None:
        raise ServeLimited(full.message, code=full.code, retry_after_seconds=_rest_of_minute(now))
    if not ip_hash:
        return
    held = battles_held(ip_hash=ip_hash).aggregate(count=Count("id"), oldest=Min("served_at"))
    cap = settings.ARENA_HELD_BATTLES_PER_IP
    if held["count"] >= cap:
        # A hold surely ends by the oldest one's end and the sweep after it (a vote may end one sooner).
        ends_at = (held["oldest"] or now) + timedelta(seconds=hold_seconds())
        wait = (ends_at - now).total_seconds() + settings.ARENA_SWEEP_INTERVAL_SECONDS
        raise ServeLimited(
            f"your address already holds {held['count']} battles not voted on (at most {cap}): vote on "
            "one, or wait until one goes back to the pool",
            code="held_ip_cap",
            retry_after_seconds=max(1.0, wait),
            details={"count": held["count"], "cap": cap},
        )


def hold_counted(*, voter: Voter, ip_hash: str, now: datetime) -> None:
    """Count a hold just started in this minute's windows."""
    _windows_add(_hold_windows(voter=voter, ip_hash=ip_hash, now=now), purpose="limit new battles")


def voter_creation_check(*, ip_hash: str, now: datetime) -> None:
    """Raise ServeLimited if a new voter at this address would go over a limit. A new voter is made
    only to be served a battle at once: refused a hold, it would be a row made for nothing, so the
    address's hold limits are checked too."""
    full = _first_full(_voter_windows(ip_hash=ip_hash, now=now), purpose="limit new voters")
    if full is not None:
        raise ServeLimited(full.message, code=full.code, retry_after_seconds=_rest_of_minute(now))
    hold_limits_check(voter=None, ip_hash=ip_hash, now=now)


def voter_counted(*, ip_hash: str, now: datetime) -> None:
    _windows_add(_voter_windows(ip_hash=ip_hash, now=now), purpose="limit new voters")


def _hold_windows(*, voter: Voter | None, ip_hash: str, now: datetime) -> list[_Window]:
    minute = int(now.timestamp()) // _WINDOW_SECONDS
    start = now.replace(second=0, microsecond=0)
    # A hold starts when a battle is served or drawn for a voter; a row is counted once.
    started = Q(served_at__gte=start) | Q(created_at__gte=start)
    windows = []
    if voter is not None:
        windows.append(
            _Window(
                key=f"holds:voter:{voter.pk}:{minute}",
                limit=settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER,
                code="serve_voter_rate",
                message="too many new battles for this voter this minute: please wait a minute",
                counted=Battle.objects.filter(started, voter=voter).count,
            )
        )
    if ip_hash:
        windows.append(
            _Window(
                key=f"holds:ip:{ip_hash}:{minute}",
                limit=settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_IP,
                code="serve_ip_rate",
                message="too many new battles from your address this minute: please wait a minute",
                counted=Battle.objects.filter(started, holder_ip_hash=ip_hash).count,
            )
        )
    return windows


def _voter_windows(*, ip_hash: str, now: datetime) -> list[_Window]:
    if not ip_hash:
        return []
    minute = int(now.timestamp()) // _WINDOW_SECONDS
    return [
        _Window(
            key=f"voters:ip:{ip_hash}:{minute}",
            limit=settings.ARENA_NEW_VOTERS_PER_MINUTE_PER_IP,
            code="new_voter_ip_rate",
            message=(
                "too many new voters from your address this minute: keep your voter token or cookie and "
                "send it with every call"
            ),
            # Voters carry no address: without Redis this limit lets them through.
            counted=lambda: 0,
        )
    ]


def _first_full(windows: list[_Window], *, purpose: str) -> _Window | None:
    """The first window that already holds its limit."""
    if not windows:
        return None

    def in_cache() -> _Window | None:
        counts = cache.get_many([window.key for window in windows])
        return next((w for w in windows if int(counts.get(w.key, 0)) >= w.limit), None)

    def in_database() -> _Window | None:
        return next((w for w in windows if w.counted() >= w.limit), None)

    return stores.call(stores.CACHE, purpose, in_cache, fallback=in_database)


def _windows_add(windows: list[_Window], *, purpose: str) -> None:
    if not windows:
        return

    def in_cache() -> None:
        windows_count([(window.key, _WINDOW_SECONDS) for window in windows])

    # Without Redis there is nothing to add: the fallback counts the rows themselves.
    stores.call(stores.CACHE, purpose, in_cache, fallback=lambda: None)


def _rest_of_minute(now: datetime) -> float:
    return float(_WINDOW_SECONDS - int(now.timestamp()) % _WINDOW_SECONDS)
