"""Voters, and recording their verdicts: the second half of the hot path (battles/services/serving.py
serves the battles)."""

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from arena import rows, stores
from arena.cache import windows_count, windows_uncount
from arena.errors import DomainError
from battles import selectors
from battles.models import Battle, Contender, Vote, Voter
from battles.services import holds
from battles.services.hot_sql import (
    BATTLE,
    BATTLES,
    CONTENDERS,
    QUESTIONS,
    SERVED,
    VOTE_COLUMNS,
    VOTE_TIME,
    VOTED,
    VOTES,
)
from battles.services.leaks import vote_on_a_leak_left_out
from battles.services.proof_of_work import vote_proof_valid
from battles.services.tallies import vote_rejection_count
from ratings.services import votes_recorded
from ratings.services.counters import pair_counts_counting
from ratings.services.vote_log import OUTCOME_CODES

# The largest time to decide that is stored (about 24 days, the column's limit).
_LONGEST_DECISION_MS = 2**31 - 1
# last_seen_at is a rough activity mark: refreshing it on every page view would be a write per view.
_LAST_SEEN_RESOLUTION = timedelta(hours=1)


class VoteRejected(DomainError):
    """A vote that cannot be counted; the message is safe to show to the voter."""

    MESSAGES: ClassVar[Mapping[str, Promise | str]] = {
        "invalid_outcome": gettext_lazy("unknown verdict"),
        "not_served_to_voter": gettext_lazy("this battle was not served to you"),
        "not_open": gettext_lazy("this battle is no longer open for voting"),
        "too_early": gettext_lazy("read both answers first"),
        "voter_rate": gettext_lazy("too many votes"),
        "ip_rate": gettext_lazy("too many votes"),
        "daily_cap": gettext_lazy("too many votes"),
        "proof_missing": gettext_lazy("your browser did not finish its check; reload the page"),
    }

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retry_after_seconds: float | None = None,
        counted: list[str] | None = None,
    ) -> None:
        super().__init__(message, code=code, retry_after_seconds=retry_after_seconds)
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
    holds.voter_creation_check(ip_hash=ip_hash, now=now)
    voter = Voter.objects.create()
    holds.voter_counted(ip_hash=ip_hash, now=now)
    return voter


def voter_seen(voter: Voter, *, now: datetime) -> None:
    """Mark the voter active now (at most one write an hour)."""
    if now - voter.last_seen_at > _LAST_SEEN_RESOLUTION:
        Voter.objects.filter(pk=voter.pk).update(last_seen_at=now)
        voter.last_seen_at = now


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


def vote_cast(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str = "", reason: str = "", proof: str = ""
) -> Vote:
    """The vote on this battle after vote_record (see there): the one just cast, or the first one."""
    return vote_record(
        battle_id=battle_id, voter=voter, outcome=outcome, ip_hash=ip_hash, reason=reason, proof=proof
    ).vote


def vote_record(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str = "", reason: str = "", proof: str = ""
) -> VoteRecorded:
    """Record a verdict (see _vote_record); a refused vote is counted by its reason, for staff."""
    try:
        recorded = _vote_record(
            battle_id=battle_id, voter=voter, outcome=outcome, ip_hash=ip_hash, reason=reason, proof=proof
        )
    except VoteRejected as rejection:
        vote_rejection_count(code=rejection.code)
        raise
    if recorded.created and settings.ARENA_SERVE_LEAKING_ANSWERS:
        # Battles may show answers that name a model: a vote on one never counts (kept, marked).
        vote_on_a_leak_left_out(battle_id=battle_id)
    return recorded


def _vote_record(
    *, battle_id: int, voter: Voter, outcome: str, ip_hash: str, reason: str, proof: str
) -> VoteRecorded:
    """Record a verdict on a battle served to this voter. Casting the same vote twice is harmless: a
    repeat changes nothing (its reason is not kept), is answered whatever the limits and uses none of
    them up, and of two casts arriving together exactly one is recorded (created=True).

    Rejected, changing nothing: a battle not served to this voter or no longer open (or gone back to
    the pool when the voter's hold ran out), a vote sooner than ARENA_VOTE_MIN_SECONDS after serving,
    and votes over the per-voter, per-IP or daily limits. A vote after the hold ran out still counts
    while the sweeper has not returned the battle yet. With ARENA_VOTE_POW_BITS on, a vote whose
    `proof` does not solve the battle's challenge (battles/services/proof_of_work.py) is refused
    first, for the cost of an HMAC and a hash: it uses up no limit and never reaches the database
    (it is counted among the refused votes, as every refusal is). A repeat needs its proof too.

    On PostgreSQL one statement closes the battle, stores the vote and counts it in the pair
    counters (the battle's row lock makes a second cast wait, then find it voted); elsewhere three
    statements in a transaction do the same.
    """
    if outcome not in Vote.Outcome.values:
        raise VoteRejected(f"unknown verdict {outcome!r}", code="invalid_outcome")
    if not vote_proof_valid(battle_id=battle_id, voter_id=voter.pk, counter=proof):
        raise VoteRejected("no proof of work for this battle", code="proof_missing")
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
        if store is _vote_store_at_once:
            votes_recorded(votes=[vote], counted=True)  # the statement counted it (pair_counts_counting)
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
    condition = f"id = %s AND voter_id = %s AND status = {SERVED}"
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
    columns = ", ".join(VOTE_COLUMNS)
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"WITH closed AS (UPDATE {BATTLES} SET status = {VOTED}, voted_at = clock_timestamp() "
            f"WHERE {condition} "
            "RETURNING id, voter_id, contender_a_id, contender_b_id, question_id, served_at, voted_at), "
            f"stored AS (INSERT INTO {VOTES} ({columns}) SELECT closed.id, closed.voter_id, "
            "closed.contender_a_id, closed.contender_b_id, q.category_id, %s, closed.voted_at, "
            f"{_DECISION_MS}, %s, %s, closed.voted_at, NULL, '' "
            f"FROM closed JOIN {QUESTIONS} q ON q.id = closed.question_id "
            "RETURNING id, contender_a_id, contender_b_id, category_id, decision_ms, created_at), "
            f"counted AS ({pair_counts_counting('stored')}) "
            "SELECT stored.id, stored.contender_a_id, stored.contender_b_id, stored.category_id, "
            f"stored.decision_ms, ka.name, kb.name, stored.created_at FROM stored "
            f"JOIN {CONTENDERS} ka ON ka.id = stored.contender_a_id "
            f"JOIN {CONTENDERS} kb ON kb.id = stored.contender_b_id",
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
        cast_at=VOTE_TIME.value("created_at", row[7]),
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
            f"UPDATE {BATTLES} SET status = {VOTED}, voted_at = %s WHERE {condition} "
            f"RETURNING contender_a_id, contender_b_id, served_at, "
            f"(SELECT q.category_id FROM {QUESTIONS} q WHERE q.id = {BATTLES}.question_id), "
            f"(SELECT k.name FROM {CONTENDERS} k WHERE k.id = {BATTLES}.contender_a_id), "
            f"(SELECT k.name FROM {CONTENDERS} k WHERE k.id = {BATTLES}.contender_b_id)",
            parameters,
        )
        closed = cursor.fetchone()
        if closed is None:
            return None
        contender_a_id, contender_b_id, served_at, category_id, name_a, name_b = closed
        served_at = BATTLE.value("served_at", served_at)
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
            f"INSERT INTO {VOTES} ({', '.join(VOTE_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(VOTE_COLUMNS))}) RETURNING id",
            [rows.parameter(getattr(vote, column)) for column in VOTE_COLUMNS],
        )
        vote.id = cursor.fetchone()[0]
        votes_recorded(votes=[vote])  # counted in this transaction, a refresh asked for at its commit
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
