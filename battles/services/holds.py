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

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from arena import rows, stores
from arena.cache import windows_count, windows_uncount
from arena.errors import DomainError
from arena.locks import lock_held, lock_wait_ran_out, transaction_lock_statement
from arena.rows import Columns
from battles.models import Battle, Voter

# A battle in one of these states with a voter is out of the shared pool: served, or drawn for them.
HELD_STATUSES = [Battle.Status.GENERATING, Battle.Status.READY, Battle.Status.SERVED]
_WINDOW_SECONDS = 60
HOLD_LOCK_WAIT_SECONDS = 5.0
_SERVED_AT = Columns(Battle, "b", ["served_at"])


class ServeLimited(DomainError):
    """No new battle (or voter) now; the message is safe to show, and says which limit was reached."""

    MESSAGES: ClassVar[Mapping[str, Promise | str]] = {
        "serve_voter_rate": gettext_lazy(
            "too many new battles for this voter this minute: please wait a minute"
        ),
        "serve_ip_rate": gettext_lazy(
            "too many new battles from your address this minute: please wait a minute"
        ),
        "held_ip_cap": gettext_lazy(
            "your address already holds %(count)s battles not voted on (at most %(cap)s): vote on one, or "
            "wait until one goes back to the pool"
        ),
        "new_voter_ip_rate": gettext_lazy(
            "too many new voters from your address this minute: keep your voter token or cookie and send "
            "it with every call"
        ),
    }

    def __init__(
        self, message: str, *, code: str, retry_after_seconds: float, details: dict[str, int] | None = None
    ) -> None:
        super().__init__(message, code=code, retry_after_seconds=retry_after_seconds, details=details)
        self.retry_after_seconds: float = retry_after_seconds


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


@dataclass(frozen=True)
class HoldState:
    """What a new hold depends on, read under the address's lock."""

    served_id: int | None  # the battle served to the voter meanwhile (a double click, another tab)
    held: int  # battles the address holds, not voted on
    oldest_served_at: datetime | None  # when the oldest of them was served


@contextmanager
def hold_starting(*, voter: Voter, ip_hash: str) -> Iterator[HoldState]:
    """One transaction for a new hold, and one new hold at a time per address in it, so that calls
    arriving together cannot pass the cap together (a PostgreSQL advisory lock, let go at commit: no
    Redis needed). Yields what the hold depends on, read once the lock is held (with the lock, in one
    round trip). A call that waits longer than HOLD_LOCK_WAIT_SECONDS for the address's other calls
    is refused like a call over the rate."""
    name = f"battle-holds:{ip_hash}"
    if connection.vendor != "postgresql":  # the embedded database: a lock in the process
        with lock_held(
            name if ip_hash else "battle-holds", wait=True, timeout_seconds=HOLD_LOCK_WAIT_SECONDS
        ) as held:
            if not held:
                raise address_busy()
            with transaction.atomic():
                yield _hold_state(voter=voter, ip_hash=ip_hash, lock=None)
        return
    # A hold is not worth waiting for the disk: its commit does not wait for the WAL flush. A crash
    # in the next moment can lose it (the battle is back in the pool, and the voter's vote on it is
    # refused); never a vote, whose commit flushes everything written before it.
    first = "SELECT set_config('synchronous_commit', 'off', true)"
    parameters: list[Any] = []
    if ip_hash:
        lock, parameters = transaction_lock_statement(name, timeout_seconds=HOLD_LOCK_WAIT_SECONDS)
        first = f"{first}; {lock}"
    with transaction.atomic():
        try:
            state = _hold_state(voter=voter, ip_hash=ip_hash, lock=(first, parameters))
        except OperationalError as error:
            if not lock_wait_ran_out(error):
                raise
            raise address_busy() from None
        yield state


def address_busy() -> ServeLimited:
    return ServeLimited(
        "too many new battles from your address this minute: please wait a minute",
        code="serve_ip_rate",
        retry_after_seconds=2.0,
    )


# The battles an address holds (the statuses written in, as in the partial index battle_held_by_ip,
# so that a prepared statement's plan can use it).
HELD_AT_ADDRESS = (
    f"FROM {Battle._meta.db_table} WHERE holder_ip_hash = %s AND holder_ip_hash <> '' "
    f"AND status IN ({', '.join(repr(str(status)) for status in HELD_STATUSES)}) AND voter_id IS NOT NULL"
)


def _hold_state(*, voter: Voter | None, ip_hash: str, lock: tuple[str, list[Any]] | None) -> HoldState:
    served = (
        f"(SELECT id FROM {Battle._meta.db_table} WHERE voter_id = %s AND status = "
        f"'{Battle.Status.SERVED}' ORDER BY served_at LIMIT 1)"
        if voter is not None
        else "NULL"
    )
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"SELECT (SELECT COUNT(*) {HELD_AT_ADDRESS}), "
            f"(SELECT MIN(served_at) {HELD_AT_ADDRESS}), {served}",
            [ip_hash, ip_hash, *([] if voter is None else [rows.parameter(voter.pk)])],
            first=lock,
        )
        held, oldest, served_id = cursor.fetchone()
    return HoldState(served_id=served_id, held=held, oldest_served_at=_SERVED_AT.value("served_at", oldest))


def hold_limits_check(
    *, voter: Voter | None, ip_hash: str, now: datetime, state: HoldState | None = None, take: bool = False
) -> list[str]:
    """Raise ServeLimited if a new hold for this voter (None: one about to be made) at this address
    would go over a limit; `state` is the address's holds as hold_starting read them (read here when
    not given). With `take`, the new hold is counted in this minute's windows at the same time (one
    round trip to Redis), and the windows it was counted in are returned: a call that then starts no
    hold gives them back (hold_given_back), so that it never uses up a limit, as a voter asking
    again while their battle is prepared does not."""
    if take:
        counted = hold_windows_take(voter=voter, ip_hash=ip_hash, now=now)
    else:
        counted = []
        full = _first_full(_hold_windows(voter=voter, ip_hash=ip_hash, now=now), purpose="limit new battles")
        if full is not None:
            raise ServeLimited(full.message, code=full.code, retry_after_seconds=_rest_of_minute(now))
    if not ip_hash:
        return counted
    if state is None:
        state = _hold_state(voter=None, ip_hash=ip_hash, lock=None)
    cap = settings.ARENA_HELD_BATTLES_PER_IP
    if state.held >= cap:
        hold_given_back(counted)
        # A hold surely ends by the oldest one's end and the sweep after it (a vote may end one sooner).
        ends_at = (state.oldest_served_at or now) + timedelta(seconds=hold_seconds())
        wait = (ends_at - now).total_seconds() + settings.ARENA_SWEEP_INTERVAL_SECONDS
        raise ServeLimited(
            f"your address already holds {state.held} battles not voted on (at most {cap}): vote on "
            "one, or wait until one goes back to the pool",
            code="held_ip_cap",
            retry_after_seconds=max(1.0, wait),
            details={"count": state.held, "cap": cap},
        )
    return counted


def hold_windows_take(*, voter: Voter | None, ip_hash: str, now: datetime) -> list[str]:
    """Count a new hold in this minute's windows, or raise ServeLimited (counting nothing) if that
    takes one over its limit; the windows counted, for hold_given_back if no hold starts after all."""
    counted, full = _windows_take(
        _hold_windows(voter=voter, ip_hash=ip_hash, now=now), purpose="limit new battles"
    )
    if full is not None:
        hold_given_back(counted)
        raise ServeLimited(full.message, code=full.code, retry_after_seconds=_rest_of_minute(now))
    return counted


def hold_given_back(counted: list[str]) -> None:
    """Take back a hold counted by hold_limits_check(take=True) that did not start."""
    if counted:
        stores.call(
            stores.CACHE, "limit new battles", lambda: windows_uncount(counted), fallback=lambda: None
        )


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
                counted=lambda: Battle.objects.filter(started, voter=voter).count(),
            )
        )
    if ip_hash:
        windows.append(
            _Window(
                key=f"holds:ip:{ip_hash}:{minute}",
                limit=settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_IP,
                code="serve_ip_rate",
                message="too many new battles from your address this minute: please wait a minute",
                counted=lambda: Battle.objects.filter(started, holder_ip_hash=ip_hash).count(),
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


def _windows_take(windows: list[_Window], *, purpose: str) -> tuple[list[str], _Window | None]:
    """Count one more event in each window, and find the first that this takes over its limit: the
    keys counted (none without Redis, where the rows themselves are counted), and that window."""
    if not windows:
        return [], None

    def in_cache() -> tuple[list[str], _Window | None]:
        counts = windows_count([(window.key, _WINDOW_SECONDS) for window in windows])
        over = next((w for w, count in zip(windows, counts, strict=True) if count > w.limit), None)
        return [window.key for window in windows], over

    def in_database() -> tuple[list[str], _Window | None]:
        return [], next((w for w in windows if w.counted() >= w.limit), None)

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
