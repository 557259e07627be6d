"""Serving battles to anonymous voters and recording their verdicts."""

import contextlib
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from arena import rows, stores
from arena.cache import windows_count, windows_uncount
from arena.locks import lock_wait_ran_out, transaction_lock_statement
from arena.rows import Columns
from battles import selectors
from battles.models import Answer, Battle, Category, Contender, Origin, Question, Vote, Voter
from battles.services import serving
from battles.services.pool import (
    NoBattleCanBeDrawn,
    answers_queue,
    battle_draw,
    battle_pool_refill_request,
)
from ratings.services import pair_counts_add, ratings_refresh_request
from ratings.services.counters import pair_counts_counting
from ratings.services.vote_log import OUTCOME_CODES

# The largest time to decide that is stored (about 24 days, the column's limit).
_LONGEST_DECISION_MS = 2**31 - 1
# last_seen_at is a rough activity mark: refreshing it on every page view would be a write per view.
_LAST_SEEN_RESOLUTION = timedelta(hours=1)

# Serving and voting are the arena's hot path (a launch-day spike is hundreds of votes a second):
# they run hand-written SQL, a few statements each, instead of ORM queries compiled on every request.
_BATTLE = Columns(Battle, "b")
_QUESTION = Columns(Question, "q")
_CATEGORY = Columns(Category, "c")
# What a battle page shows of an answer; the rest (parameters, timings...) is read if ever asked for.
_SHOWN_ANSWER_FIELDS = ["id", "question", "contender", "sample_index", "status", "text", "html"]
_ANSWER_A = Columns(Answer, "aa", _SHOWN_ANSWER_FIELDS)
_ANSWER_B = Columns(Answer, "ab", _SHOWN_ANSWER_FIELDS)
_VOTER = Columns(Voter, "v")
_VOTE_TIME = Columns(Vote, "stored", ["created_at"])
_B, _Q, _V = Battle._meta.db_table, Question._meta.db_table, Vote._meta.db_table
_C, _A, _K = Category._meta.db_table, Answer._meta.db_table, Contender._meta.db_table


_SHOWN_COLUMNS = f"{_BATTLE.sql}, {_QUESTION.sql}, {_CATEGORY.sql}, {_ANSWER_A.sql}, {_ANSWER_B.sql}"


def _shown_joined(battles: str) -> str:
    """`battles` (a table, or a WITH query of its columns) as b, with what a battle page shows of them."""
    return (
        f"{battles} b JOIN {_Q} q ON q.id = b.question_id JOIN {_C} c ON c.id = q.category_id "
        f"JOIN {_A} aa ON aa.id = b.answer_a_id JOIN {_A} ab ON ab.id = b.answer_b_id"
    )


def _shown_from(battles: str) -> str:
    return f"SELECT {_SHOWN_COLUMNS} FROM {_shown_joined(battles)}"


_BATTLES_SHOWN = _shown_from(_B)
_BATTLE_COLUMNS = ", ".join(f'"{field.column}"' for field in _BATTLE.fields)
_VOTE_COLUMNS = [
    *["battle_id", "voter_id", "contender_a_id", "contender_b_id", "category_id", "outcome"],
    *["created_at", "decision_ms", "ip_hash", "reason", "recorded_at", "external_id", "language"],
]
# Statuses are written into the statements, not passed as values: a prepared statement's one plan can
# then use the partial indexes on status (the pool's, the holds').
_GENERATING, _READY = f"'{Battle.Status.GENERATING}'", f"'{Battle.Status.READY}'"
_SERVED, _VOTED = f"'{Battle.Status.SERVED}'", f"'{Battle.Status.VOTED}'"
# A pool refill is asked for at most this often by one process (the refill itself is shared: pool.py).
_REFILL_REQUEST_EVERY_SECONDS = 1.0
_refill_requested_at = [-_REFILL_REQUEST_EVERY_SECONDS]


class VoteRejected(Exception):
    """A vote that cannot be counted; the message is safe to show to the voter."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retry_after_seconds: float | None = None,
        counted: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_seconds = retry_after_seconds
        self.counted = counted or []  # rate windows this refused vote was counted in


@dataclass(frozen=True)
class VoteRecorded:
    """A vote as it stands, and whether this call recorded it (False: it was there already)."""

    vote: Vote
    created: bool


def voter_known(*, voter_id: uuid.UUID) -> Voter:
    """A voter known by id only, not read (its other fields are read if ever asked for): enough to
    cast a vote, which finds out itself whether the voter exists (VoteRejected "unknown_voter")."""
    return Voter.from_db(connection.alias, ["id"], [voter_id])


def voter_get_or_create(*, voter_id: uuid.UUID | None, ip_hash: str = "") -> Voter:
    """The voter with this id, or a new one. New voters are limited per address (ServeLimited, and
    nothing is made), as each one is made to be served a battle at once."""
    now = timezone.now()
    if voter_id is not None:
        voter = selectors.voter_find(voter_id=voter_id)
        if voter is not None:
            voter_seen(voter, now=now)
            return voter
    serving.voter_creation_check(ip_hash=ip_hash, now=now)
    voter = Voter.objects.create()
    serving.voter_counted(ip_hash=ip_hash, now=now)
    return voter


def voter_seen(voter: Voter, *, now: datetime) -> None:
    """Mark the voter active now (at most one write an hour)."""
    if now - voter.last_seen_at > _LAST_SEEN_RESOLUTION:
        Voter.objects.filter(pk=voter.pk).update(last_seen_at=now)
        voter.last_seen_at = now


def _battles_shown(where: str, parameters: list[Any]) -> list[Battle]:
    """Battles with their question, category and answers, built from one query."""
    with connection.cursor() as cursor:
        rows.execute(cursor, f"{_BATTLES_SHOWN} WHERE {where}", parameters)
        return _battles_built(cursor.fetchall())


def voter_with_holds(*, voter_id: uuid.UUID) -> tuple[Voter, list[Battle]] | None:
    """The voter and the battles they hold (as battle_serve reads them first), in one query; None if
    there is no such voter."""
    held = f"b.voter_id = v.id AND b.status IN ({_SERVED}, {_READY}, {_GENERATING})"
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"SELECT {_VOTER.sql}, {_SHOWN_COLUMNS} FROM {Voter._meta.db_table} v "
            f"LEFT JOIN ({_shown_joined(_B)}) ON {held} WHERE v.id = %s",
            [rows.parameter(voter_id)],
        )
        found = cursor.fetchall()
    if not found:
        return None
    voter = _VOTER.build(found[0])[0]
    return voter, _battles_built(found, offset=len(_VOTER))


def _battles_built(found: list[Any], *, offset: int = 0) -> list[Battle]:
    """Battles from rows of _SHOWN_COLUMNS (starting at `offset`; a row without a battle is skipped)."""
    battles = []
    for row in found:
        if row[offset] is None:
            continue
        battle, at = _BATTLE.build(row, offset)
        question, at = _QUESTION.build(row, at)
        category, at = _CATEGORY.build(row, at)
        answer_a, at = _ANSWER_A.build(row, at)
        answer_b, _ = _ANSWER_B.build(row, at)
        question.category = category
        battle.question = question
        battle.answer_a = answer_a
        battle.answer_b = answer_b
        battles.append(battle)
    return battles


def _battle_shown(battle_id: int) -> Battle:
    return _battles_shown("b.id = %s", [battle_id])[0]


def _claim(
    battle_ids: list[int], voter: Voter, *, reserved: bool, rng: random.Random, ip_hash: str
) -> Battle | None:
    """Serve the first of these ready battles that no one else takes first."""
    rng.shuffle(battle_ids)
    for battle_id in battle_ids:
        available = Battle.objects.filter(pk=battle_id, status=Battle.Status.READY)
        available = available.filter(voter=voter) if reserved else available.filter(voter__isnull=True)
        if available.update(
            status=Battle.Status.SERVED, voter=voter, served_at=timezone.now(), holder_ip_hash=ip_hash
        ):
            return _battle_shown(battle_id)
    return None


def _claim_sql(*, unseen: bool) -> str:
    """The UPDATE that serves the oldest servable battle of the shared pool (on a question this voter
    has not seen, with `unseen`), with parameters voter, served_at, address (and voter again with
    `unseen`); more conditions may follow. Rows other requests are claiming at the same moment are
    skipped, not waited for: voters arriving together each get their own battle at once."""
    seeded = (
        ""
        if settings.ARENA_SERVE_SEEDED
        else (
            f" AND q.origin <> '{Origin.SEEDED}' AND ca.origin <> '{Origin.SEEDED}'"
            f" AND cb.origin <> '{Origin.SEEDED}'"
        )
    )
    # NOT IN: the voter's questions are read once into a hash, whatever the number of candidates.
    not_seen = (
        f" AND p.question_id NOT IN (SELECT s.question_id FROM {_B} s WHERE s.voter_id = %s"
        " AND s.served_at IS NOT NULL)"
        if unseen
        else ""
    )
    postgresql = connection.vendor == "postgresql"
    return (
        f"UPDATE {_B} SET status = {_SERVED}, voter_id = %s, served_at = %s, holder_ip_hash = %s "
        f"WHERE id = (SELECT p.id FROM {_B} p JOIN {_Q} q ON q.id = p.question_id "
        f"JOIN {_K} ca ON ca.id = p.contender_a_id JOIN {_K} cb ON cb.id = p.contender_b_id "
        f"WHERE p.status = {_READY} AND p.voter_id IS NULL AND q.is_active AND ca.is_active "
        f"AND cb.is_active{seeded}{not_seen} ORDER BY p.created_at LIMIT 1"
        f"{' FOR UPDATE OF p SKIP LOCKED' if postgresql else ''})"
    )


def _claim_from_pool(voter: Voter, *, ip_hash: str, unseen: bool) -> Battle | None:
    """Serve the oldest servable battle of the shared pool (see _claim_sql), in one statement."""
    postgresql = connection.vendor == "postgresql"
    claim = _claim_sql(unseen=unseen)
    parameters = [
        rows.parameter(voter.pk),
        rows.parameter(timezone.now()),
        ip_hash,
        *([rows.parameter(voter.pk)] if unseen else []),
    ]
    with connection.cursor() as cursor:
        if postgresql:  # claimed and read in one statement
            rows.execute(
                cursor,
                f"WITH claimed AS ({claim} RETURNING {_BATTLE_COLUMNS}) {_shown_from('claimed')}",
                parameters,
            )
            claimed = _battles_built(cursor.fetchall())
            return claimed[0] if claimed else None
        rows.execute(cursor, f"{claim} RETURNING id", parameters)
        row = cursor.fetchone()
    return None if row is None else _battle_shown(row[0])


def _hold_at_once(*, voter: Voter, ip_hash: str) -> Battle | None:
    """A new hold in one round trip (PostgreSQL, for an address): under the address's lock (as
    serving.hold_starting takes it), claim the oldest servable battle on a question the voter has not
    seen, provided the address holds fewer than ARENA_HELD_BATTLES_PER_IP battles and no other request
    of this voter started a hold meanwhile. The lock, then the claim with its checks, go as two
    statements of one transaction (each statement sees what committed before it started). None if
    nothing was claimed: battle_serve's other way finds out why. Raises ServeLimited if the
    address's other calls hold the lock too long."""
    lock, lock_parameters = transaction_lock_statement(
        f"battle-holds:{ip_hash}", timeout_seconds=serving.HOLD_LOCK_WAIT_SECONDS
    )
    # Not worth waiting for the disk (see serving.hold_starting).
    first = f"SELECT set_config('synchronous_commit', 'off', true); {lock}"
    claim = (
        f"{_claim_sql(unseen=True)} AND (SELECT COUNT(*) {serving.HELD_AT_ADDRESS}) < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {_B} m WHERE m.voter_id = %s AND m.status = {_SERVED})"
    )
    parameters = [
        *[rows.parameter(voter.pk), rows.parameter(timezone.now()), ip_hash, rows.parameter(voter.pk)],
        *[ip_hash, settings.ARENA_HELD_BATTLES_PER_IP, rows.parameter(voter.pk)],
    ]
    # Its own transaction; inside another one (a test's), a savepoint keeps a lock wait that ran out
    # from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            rows.execute(
                cursor,
                f"WITH claimed AS ({claim} RETURNING {_BATTLE_COLUMNS}) {_shown_from('claimed')}",
                parameters,
                first=(first, lock_parameters),
            )
            claimed = _battles_built(cursor.fetchall())
    except OperationalError as error:
        if not lock_wait_ran_out(error):
            raise
        raise serving.address_busy() from None
    return claimed[0] if claimed else None


def battle_serve(
    *, voter: Voter, rng: random.Random | None = None, ip_hash: str = "", held: list[Battle] | None = None
) -> Battle | None:
    """The battle this voter should see, or None while one is being prepared.

    In order: the battle already served and not voted on; a battle drawn for this voter; a ready
    battle from the shared pool on a question the voter has not seen. If the pool has none, a battle
    is drawn for the voter on an unseen question (ready at once when its answers exist). Questions
    repeat only once the voter has seen the whole bank. A pool refill is requested after a new hold.

    Serving from the pool or drawing for the voter starts a new hold, which the limits of
    battles/services/serving.py allow or refuse (ServeLimited, changing nothing); `ip_hash` is the
    voter's address, as ip_hash_of gives it. The battle a voter already holds always comes back.
    `held` is what voter_with_holds read of the voter's battles just now, if it was called.
    """
    rng = rng or random.Random()
    now = timezone.now()
    if held is None:  # everything the voter holds, in one query: served, drawn for them, on its way
        held = _battles_shown(
            f"b.voter_id = %s AND b.status IN ({_SERVED}, {_READY}, {_GENERATING})",
            [rows.parameter(voter.pk)],
        )
    served = sorted(
        (b for b in held if b.status == Battle.Status.SERVED and b.served_at is not None),
        key=lambda b: b.served_at or now,
    )
    if served and serving.hold_kept(battle=served[0], voter=voter, now=now):
        return served[0]
    reserved = [battle.pk for battle in held if battle.status == Battle.Status.READY]
    battle = _claim(reserved, voter, reserved=True, rng=rng, ip_hash=ip_hash) if reserved else None
    if battle is not None:
        return battle
    on_its_way = any(b.status == Battle.Status.GENERATING for b in held)
    if ip_hash and connection.vendor == "postgresql" and not on_its_way:
        # The usual case, in two round trips: the limits in Redis, then the hold. Over a limit, the
        # other way below finds out whether another request of this voter started a hold meanwhile.
        try:
            counted: list[str] | None = serving.hold_windows_take(voter=voter, ip_hash=ip_hash, now=now)
        except serving.ServeLimited:
            counted = None
        if counted is not None:
            try:
                battle = _hold_at_once(voter=voter, ip_hash=ip_hash)
            except BaseException:
                serving.hold_given_back(counted)
                raise
            if battle is not None:
                _pool_refill_soon()
                return battle
            serving.hold_given_back(counted)
    with serving.hold_starting(voter=voter, ip_hash=ip_hash) as state:
        # Another request of this voter (a double click, two tabs) may have started a hold meanwhile.
        if state.served_id is not None:
            return _battle_shown(state.served_id)
        try:
            counted = serving.hold_limits_check(voter=voter, ip_hash=ip_hash, now=now, state=state, take=True)
        except serving.ServeLimited:
            if on_its_way:
                return None  # asking again while it is prepared starts no hold
            raise
        battle, started = _hold_start(voter=voter, ip_hash=ip_hash, rng=rng)
        if not started:
            serving.hold_given_back(counted)
    _pool_refill_soon()
    return battle


def _pool_refill_soon() -> None:
    """Ask for a refill (after the claim, so that it sees the pool without the battle just served)."""
    if time.monotonic() - _refill_requested_at[0] >= _REFILL_REQUEST_EVERY_SECONDS:
        _refill_requested_at[0] = time.monotonic()
        battle_pool_refill_request()


def _battle_on_its_way(voter: Voter) -> bool:
    """Whether a battle drawn for this voter is waiting for its answers."""
    return Battle.objects.filter(voter=voter, status=Battle.Status.GENERATING).exists()


def _hold_start(*, voter: Voter, ip_hash: str, rng: random.Random) -> tuple[Battle | None, bool]:
    """A new battle for the voter, and whether a hold started (a battle drawn for the voter starts
    one while its answers are still on their way)."""
    battle = _claim_from_pool(voter, ip_hash=ip_hash, unseen=True)
    if battle is not None:
        return battle, True
    if _battle_on_its_way(voter):
        return None, False
    seen = Battle.objects.filter(voter=voter, served_at__isnull=False).values("question_id")
    unseen = list(Question.objects.filter(is_active=True).exclude(id__in=seen).values_list("id", flat=True))
    if unseen:
        created_answer_ids: set[int] = set()
        try:
            drawn = battle_draw(
                rng=rng,
                question_ids=unseen,
                reserved_for=voter,
                holder_ip_hash=ip_hash,
                created_answer_ids=created_answer_ids,
            )
        except NoBattleCanBeDrawn:
            drawn = None
        answers_queue(answer_ids=list(created_answer_ids))
        if drawn is not None:
            if drawn.status == Battle.Status.READY:
                return _claim([drawn.pk], voter, reserved=True, rng=rng, ip_hash=ip_hash), True
            return None, True
    # The voter has seen every question (or none of the unseen can be drawn): repeats are allowed.
    battle = _claim_from_pool(voter, ip_hash=ip_hash, unseen=False)
    return battle, battle is not None


@dataclass(frozen=True)
class _RateWindow:
    key: str
    limit: int
    seconds: int
    code: str
    counted: Callable[[], int]  # votes in the window, from PostgreSQL, while Redis is away


def _rate_limits_take(*, voter: Voter, ip_hash: str, now: datetime) -> list[str]:
    """Count a vote in its rate windows, or raise VoteRejected if one is over its limit. Returns the
    windows counted in Redis, for _rate_limits_give_back should the vote not be recorded after all."""
    minute = int(now.timestamp()) // 60
    minute_start = now.replace(second=0, microsecond=0)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    votes = Vote.objects.all()
    windows = [
        _RateWindow(
            f"votes:voter:{voter.pk}:{minute}",
            settings.ARENA_VOTES_PER_MINUTE_PER_VOTER,
            60,
            "voter_rate",
            lambda: votes.filter(voter=voter, created_at__gte=minute_start).count(),
        ),
        _RateWindow(
            f"votes:day:{voter.pk}:{now:%Y%m%d}",
            settings.ARENA_VOTES_PER_DAY_PER_VOTER,
            86_400,
            "daily_cap",
            lambda: votes.filter(voter=voter, created_at__gte=day_start).count(),
        ),
    ]
    if ip_hash:
        windows.append(
            _RateWindow(
                f"votes:ip:{ip_hash}:{minute}",
                settings.ARENA_VOTES_PER_MINUTE_PER_IP,
                60,
                "ip_rate",
                lambda: votes.filter(ip_hash=ip_hash, created_at__gte=minute_start).count(),
            )
        )
    counted_in_cache: list[str] = []

    def in_cache() -> list[int]:
        counts = windows_count([(window.key, window.seconds) for window in windows])
        counted_in_cache.extend(window.key for window in windows)
        return counts

    # One round trip to Redis for every window; without Redis, each window is counted in PostgreSQL
    # (with this vote, not stored yet).
    counts = stores.call(
        stores.CACHE, "rate limit", in_cache, fallback=lambda: [window.counted() + 1 for window in windows]
    )
    for window, count in zip(windows, counts, strict=True):
        if count > window.limit:
            retry_after = (
                60 - int(now.timestamp()) % 60
                if window.seconds == 60
                else 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
            )
            raise VoteRejected(
                "too many votes", code=window.code, retry_after_seconds=retry_after, counted=counted_in_cache
            )
    return counted_in_cache


def _rate_limits_give_back(keys: list[str]) -> None:
    """Take back a vote counted in these windows that was not recorded (a repeat, a refusal)."""
    if keys:
        stores.call(stores.CACHE, "rate limit", lambda: windows_uncount(keys), fallback=lambda: None)


def vote_cast(*, battle_id: int, voter: Voter, outcome: str, ip_hash: str = "", reason: str = "") -> Vote:
    """The vote on this battle after vote_record (see there): the one just cast, or the first one."""
    return vote_record(battle_id=battle_id, voter=voter, outcome=outcome, ip_hash=ip_hash, reason=reason).vote


def vote_record(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str = "", reason: str = ""
) -> VoteRecorded:
    """Record a verdict on a battle served to this voter. Casting the same vote twice is harmless: a
    repeat changes nothing (its reason is not kept), is answered whatever the limits and uses none of
    them up, and of two casts arriving together exactly one is recorded (created=True).

    Rejected, changing nothing: a battle not served to this voter or no longer open (or gone back to
    the pool when the voter's hold ran out), a vote sooner than ARENA_VOTE_MIN_SECONDS after serving,
    and votes over the per-voter, per-IP or daily limits. A vote after the hold ran out still counts
    while the sweeper has not returned the battle yet.

    On PostgreSQL one statement closes the battle, stores the vote and counts it in the pair
    counters (the battle's row lock makes a second cast wait, then find it voted); elsewhere three
    statements in a transaction do the same.
    """
    if outcome not in Vote.Outcome.values:
        raise VoteRejected(f"unknown verdict {outcome!r}", code="invalid_outcome")
    reason = " ".join(reason.split())[: Vote._meta.get_field("reason").max_length]
    # The vote's time is taken as late as possible, just before it commits: Elo applies votes in time
    # order, and one that commits after a later-stamped vote was counted costs a replay.
    cast_at = timezone.now()
    try:
        counted = _rate_limits_take(voter=voter, ip_hash=ip_hash, now=cast_at)
    except VoteRejected as over:
        _rate_limits_give_back(over.counted)
        # A repeat is answered whatever the limits, and a vote that could not be counted anyway is
        # told why (not served to you, too early...): the limits are the last reason to refuse.
        first = _vote_not_recorded(battle_id=battle_id, voter=voter, cast_at=cast_at, open_reason=over)
        return VoteRecorded(vote=first, created=False)
    cast_at = timezone.now()
    store = _vote_store_at_once if connection.vendor == "postgresql" else _vote_store_in_steps
    try:
        vote = store(
            battle_id=battle_id, voter=voter, outcome=outcome, ip_hash=ip_hash, reason=reason, cast_at=cast_at
        )
    except BaseException:
        _rate_limits_give_back(counted)
        raise
    if vote is not None:
        ratings_refresh_request()
        return VoteRecorded(vote=vote, created=True)
    _rate_limits_give_back(counted)
    return VoteRecorded(
        vote=_vote_not_recorded(battle_id=battle_id, voter=voter, cast_at=cast_at), created=False
    )


def _vote_of(*, battle_id: int, voter: Voter) -> Vote | None:
    return (
        Vote.objects.filter(battle_id=battle_id, voter=voter)
        .select_related("contender_a", "contender_b")
        .first()
    )


def _vote_built(
    *,
    battle_id: int,
    voter: Voter,
    outcome: str,
    ip_hash: str,
    reason: str,
    cast_at: datetime,
    row: Sequence[Any],
) -> Vote:
    """The vote just stored, from (id, contender A, contender B, category, decision ms, name A, name B)."""
    vote_id, contender_a_id, contender_b_id, category_id, decision_ms, name_a, name_b = row
    vote = Vote(
        id=vote_id,
        battle_id=battle_id,
        voter_id=voter.pk,
        contender_a_id=contender_a_id,
        contender_b_id=contender_b_id,
        category_id=category_id,
        outcome=outcome,
        created_at=cast_at,
        decision_ms=decision_ms,
        ip_hash=ip_hash,
        reason=reason,
        recorded_at=cast_at,
        external_id=None,
        language="",
    )
    vote._state.adding = False
    vote.contender_a = Contender.from_db(connection.alias, ["id", "name"], [contender_a_id, name_a])
    vote.contender_b = Contender.from_db(connection.alias, ["id", "name"], [contender_b_id, name_b])
    return vote


def _open_for_vote(parameters: list[Any], *, cast_at: datetime) -> str:
    """The condition on the battle (id, voter as the next two parameters) that a vote may close it."""
    condition = f"id = %s AND voter_id = %s AND status = {_SERVED}"
    if settings.ARENA_VOTE_MIN_SECONDS > 0:
        condition += " AND served_at <= %s"
        parameters.append(rows.parameter(cast_at - timedelta(seconds=settings.ARENA_VOTE_MIN_SECONDS)))
    return condition


# From serving to the vote in ms: never below 0 (another server's clock), at most the column's limit.
_DECISION_MS = (
    f"GREATEST(0, LEAST({_LONGEST_DECISION_MS}, "
    "ROUND(EXTRACT(EPOCH FROM closed.voted_at - closed.served_at) * 1000)))::integer"
)


def _vote_store_at_once(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str, reason: str, cast_at: datetime
) -> Vote | None:
    """Close the battle, store the vote and count it, in one statement (PostgreSQL); None if the
    battle is not open to this voter's vote.

    The vote's time is the database's clock as the statement writes it, a moment before it commits:
    Elo applies votes in time order, and a vote that commits after a later-stamped vote was counted
    costs a replay of every vote, so the time is taken as close to the commit as it can be."""
    parameters: list[Any] = [battle_id, rows.parameter(voter.pk)]
    condition = _open_for_vote(parameters, cast_at=cast_at)
    parameters += [outcome, ip_hash, reason, OUTCOME_CODES[outcome]]
    columns = ", ".join(_VOTE_COLUMNS)
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"WITH closed AS (UPDATE {_B} SET status = {_VOTED}, voted_at = clock_timestamp() "
            f"WHERE {condition} "
            "RETURNING id, voter_id, contender_a_id, contender_b_id, question_id, served_at, voted_at), "
            f"stored AS (INSERT INTO {_V} ({columns}) SELECT closed.id, closed.voter_id, "
            "closed.contender_a_id, closed.contender_b_id, q.category_id, %s, closed.voted_at, "
            f"{_DECISION_MS}, %s, %s, closed.voted_at, NULL, '' "
            f"FROM closed JOIN {_Q} q ON q.id = closed.question_id "
            "RETURNING id, contender_a_id, contender_b_id, category_id, decision_ms, created_at), "
            f"counted AS ({pair_counts_counting('stored')}) "
            "SELECT stored.id, stored.contender_a_id, stored.contender_b_id, stored.category_id, "
            f"stored.decision_ms, ka.name, kb.name, stored.created_at FROM stored "
            f"JOIN {_K} ka ON ka.id = stored.contender_a_id JOIN {_K} kb ON kb.id = stored.contender_b_id",
            parameters,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return _vote_built(
        battle_id=battle_id,
        voter=voter,
        outcome=outcome,
        ip_hash=ip_hash,
        reason=reason,
        cast_at=_VOTE_TIME.value("created_at", row[7]),
        row=row[:7],
    )


def _vote_store_in_steps(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str, reason: str, cast_at: datetime
) -> Vote | None:
    """_vote_store_at_once in three statements, for databases without data-modifying WITH (SQLite)."""
    parameters: list[Any] = [rows.parameter(cast_at), battle_id, rows.parameter(voter.pk)]
    condition = _open_for_vote(parameters, cast_at=cast_at)
    with transaction.atomic(), connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"UPDATE {_B} SET status = {_VOTED}, voted_at = %s WHERE {condition} "
            f"RETURNING contender_a_id, contender_b_id, served_at, "
            f"(SELECT q.category_id FROM {_Q} q WHERE q.id = {_B}.question_id), "
            f"(SELECT k.name FROM {_K} k WHERE k.id = {_B}.contender_a_id), "
            f"(SELECT k.name FROM {_K} k WHERE k.id = {_B}.contender_b_id)",
            parameters,
        )
        closed = cursor.fetchone()
        if closed is None:
            return None
        contender_a_id, contender_b_id, served_at, category_id, name_a, name_b = closed
        served_at = _BATTLE.value("served_at", served_at)
        decision_ms = max(0, min(round((cast_at - served_at).total_seconds() * 1000), _LONGEST_DECISION_MS))
        row = [None, contender_a_id, contender_b_id, category_id, decision_ms, name_a, name_b]
        vote = _vote_built(
            battle_id=battle_id,
            voter=voter,
            outcome=outcome,
            ip_hash=ip_hash,
            reason=reason,
            cast_at=cast_at,
            row=row,
        )
        rows.execute(
            cursor,
            f"INSERT INTO {_V} ({', '.join(_VOTE_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(_VOTE_COLUMNS))}) RETURNING id",
            [rows.parameter(getattr(vote, column)) for column in _VOTE_COLUMNS],
        )
        vote.id = cursor.fetchone()[0]
        pair_counts_add(votes=[vote])
    return vote


def _vote_not_recorded(
    *, battle_id: int, voter: Voter, cast_at: datetime, open_reason: VoteRejected | None = None
) -> Vote:
    """The vote already cast on this battle, or why none can be (VoteRejected): `open_reason` if
    the battle is open to this vote (another reason refused it), else "no longer open" (it changed
    hands while the vote was cast)."""
    state = Battle.objects.filter(pk=battle_id, voter=voter).values("status", "served_at").first()
    if state is None:
        if not Voter.objects.filter(pk=voter.pk).exists():
            raise VoteRejected("no such voter", code="unknown_voter")
        raise _not_held_rejection(battle_id=battle_id, voter=voter)
    if state["status"] == Battle.Status.VOTED:
        return Vote.objects.select_related("contender_a", "contender_b").get(battle_id=battle_id)
    served_at = state["served_at"]
    if state["status"] != Battle.Status.SERVED or served_at is None:
        raise VoteRejected("this battle is no longer open for voting", code="not_open")
    looked = (cast_at - served_at).total_seconds()
    if looked >= settings.ARENA_VOTE_MIN_SECONDS:
        raise open_reason or VoteRejected("this battle is no longer open for voting", code="not_open")
    wait = settings.ARENA_VOTE_MIN_SECONDS - looked
    raise VoteRejected("read both answers first", code="too_early", retry_after_seconds=wait)


def _not_held_rejection(*, battle_id: int, voter: Voter) -> VoteRejected:
    """Why this voter cannot vote on a battle not held for them: it never was, or their hold ran out
    and the battle went back to the pool (a late vote, told so politely)."""
    if Battle.objects.filter(pk=battle_id, expired_holder=voter).exists():
        return VoteRejected(
            "this battle waited too long for your vote and went back to the pool: your vote was not "
            "counted, please take the next battle",
            code="hold_expired",
        )
    return VoteRejected("this battle was not served to you", code="not_served_to_voter")


def vote_reason_set(*, battle_id: int, voter: Voter, reason: str) -> Vote | None:
    """Keep the voter's optional reason for a verdict they gave; None if there is no such vote."""
    vote = Vote.objects.filter(battle_id=battle_id, voter=voter).first()
    if vote is None:
        return None
    vote.reason = " ".join(reason.split())[: Vote._meta.get_field("reason").max_length]
    vote.save(update_fields=["reason"])
    return vote


def ip_hash_of(address: str) -> str:
    """A keyed hash of an IP address: the same address always gives the same hash, which cannot be reversed
    without the key (ARENA_IP_HASH_KEY)."""
    if not address:
        return ""
    return hmac.new(settings.ARENA_IP_HASH_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]
