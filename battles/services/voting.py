"""Serving battles to anonymous voters and recording their verdicts."""

import hashlib
import hmac
import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from arena import stores
from arena.cache import windows_count
from battles.models import Battle, Question, Vote, Voter
from battles.services import serving
from battles.services.pool import (
    SERVABLE,
    NoBattleCanBeDrawn,
    answers_queue,
    battle_draw,
    battle_pool_refill_request,
)
from ratings.services import pair_counts_add, ratings_refresh_request

# Ready battles are claimed oldest first, but among a few of the oldest at random, so voters
# arriving together do not all race for the same row.
_CLAIM_CANDIDATES = 8
# The largest time to decide that is stored (about 24 days, the column's limit).
_LONGEST_DECISION_MS = 2**31 - 1
# last_seen_at is a rough activity mark: refreshing it on every page view would be a write per view.
_LAST_SEEN_RESOLUTION = timedelta(hours=1)


class VoteRejected(Exception):
    """A vote that cannot be counted; the message is safe to show to the voter."""

    def __init__(self, message: str, *, code: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_seconds = retry_after_seconds


def voter_get_or_create(*, voter_id: uuid.UUID | None, ip_hash: str = "") -> Voter:
    """The voter with this id, or a new one. New voters are limited per address (ServeLimited, and
    nothing is made), as each one is made to be served a battle at once."""
    now = timezone.now()
    if voter_id is not None:
        voter = Voter.objects.filter(pk=voter_id).first()
        if voter is not None:
            if now - voter.last_seen_at > _LAST_SEEN_RESOLUTION:
                Voter.objects.filter(pk=voter.pk).update(last_seen_at=now)
                voter.last_seen_at = now
            return voter
    serving.voter_creation_check(ip_hash=ip_hash, now=now)
    voter = Voter.objects.create()
    serving.voter_counted(ip_hash=ip_hash, now=now)
    return voter


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
            return Battle.objects.select_related("question__category", "answer_a", "answer_b").get(
                pk=battle_id
            )
    return None


def battle_serve(*, voter: Voter, rng: random.Random | None = None, ip_hash: str = "") -> Battle | None:
    """The battle this voter should see, or None while one is being prepared.

    In order: the battle already served and not voted on; a battle drawn for this voter; a ready
    battle from the shared pool on a question the voter has not seen. If the pool has none, a battle
    is drawn for the voter on an unseen question (ready at once when its answers exist). Questions
    repeat only once the voter has seen the whole bank. A pool refill is requested after a new hold.

    Serving from the pool or drawing for the voter starts a new hold, which the limits of
    battles/services/serving.py allow or refuse (ServeLimited, changing nothing); `ip_hash` is the
    voter's address, as ip_hash_of gives it. The battle a voter already holds always comes back.
    """
    rng = rng or random.Random()
    now = timezone.now()
    current = _served_to(voter)
    if current is not None and serving.hold_kept(battle=current, voter=voter, now=now):
        return current
    reserved = list(
        Battle.objects.filter(voter=voter, status=Battle.Status.READY).values_list("id", flat=True)
    )
    battle = _claim(reserved, voter, reserved=True, rng=rng, ip_hash=ip_hash) if reserved else None
    if battle is not None:
        return battle
    with serving.holds_of_address(ip_hash=ip_hash):
        # Another request of this voter (a double click, two tabs) may have started a hold meanwhile.
        started_meanwhile = _served_to(voter)
        if started_meanwhile is not None:
            return started_meanwhile
        try:
            serving.hold_limits_check(voter=voter, ip_hash=ip_hash, now=now)
        except serving.ServeLimited:
            if _battle_on_its_way(voter):
                return None  # asking again while it is prepared starts no hold
            raise
        battle, started = _hold_start(voter=voter, ip_hash=ip_hash, rng=rng)
        if started:
            serving.hold_counted(voter=voter, ip_hash=ip_hash, now=now)
    # Requested after the claim, so that the refill sees the pool without the battle just served.
    battle_pool_refill_request()
    return battle


def _served_to(voter: Voter) -> Battle | None:
    return (
        Battle.objects.filter(voter=voter, status=Battle.Status.SERVED)
        .select_related("question__category", "answer_a", "answer_b")
        .order_by("served_at")
        .first()
    )


def _battle_on_its_way(voter: Voter) -> bool:
    """Whether a battle drawn for this voter is waiting for its answers."""
    return Battle.objects.filter(voter=voter, status=Battle.Status.GENERATING).exists()


def _hold_start(*, voter: Voter, ip_hash: str, rng: random.Random) -> tuple[Battle | None, bool]:
    """A new battle for the voter, and whether a hold started (a battle drawn for the voter starts
    one while its answers are still on their way)."""
    seen = Battle.objects.filter(voter=voter, served_at__isnull=False).values("question_id")
    pool = Battle.objects.filter(status=Battle.Status.READY, voter__isnull=True).filter(SERVABLE)
    fresh = list(
        pool.exclude(question_id__in=seen)
        .order_by("created_at")
        .values_list("id", flat=True)[:_CLAIM_CANDIDATES]
    )
    battle = _claim(fresh, voter, reserved=False, rng=rng, ip_hash=ip_hash)
    if battle is not None:
        return battle, True
    if _battle_on_its_way(voter):
        return None, False
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
    anything = list(pool.order_by("created_at").values_list("id", flat=True)[:_CLAIM_CANDIDATES])
    battle = _claim(anything, voter, reserved=False, rng=rng, ip_hash=ip_hash)
    return battle, battle is not None


def _rate_limits_check(*, voter: Voter, ip_hash: str, now: datetime) -> None:
    minute = int(now.timestamp()) // 60
    minute_start = now.replace(second=0, microsecond=0)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    votes = Vote.objects.all()
    limits = [
        (
            f"votes:voter:{voter.pk}:{minute}",
            settings.ARENA_VOTES_PER_MINUTE_PER_VOTER,
            60,
            "voter_rate",
            votes.filter(voter=voter, created_at__gte=minute_start),
        ),
        (
            f"votes:day:{voter.pk}:{now:%Y%m%d}",
            settings.ARENA_VOTES_PER_DAY_PER_VOTER,
            86_400,
            "daily_cap",
            votes.filter(voter=voter, created_at__gte=day_start),
        ),
    ]
    if ip_hash:
        limits.append(
            (
                f"votes:ip:{ip_hash}:{minute}",
                settings.ARENA_VOTES_PER_MINUTE_PER_IP,
                60,
                "ip_rate",
                votes.filter(ip_hash=ip_hash, created_at__gte=minute_start),
            )
        )
    # One round trip to Redis for every window; without Redis, each window is counted in PostgreSQL.
    counts = stores.call(
        stores.CACHE,
        "rate limit",
        lambda: windows_count([(key, window_seconds) for key, _, window_seconds, _, _ in limits]),
        fallback=lambda: [window.count() + 1 for _, _, _, _, window in limits],
    )
    for (_, limit, window_seconds, code, _), count in zip(limits, counts, strict=True):
        if count > limit:
            retry_after = (
                60 - int(now.timestamp()) % 60
                if window_seconds == 60
                else 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
            )
            raise VoteRejected("too many votes", code=code, retry_after_seconds=retry_after)


def vote_cast(*, battle_id: int, voter: Voter, outcome: str, ip_hash: str = "") -> Vote:
    """Record a verdict on a battle served to this voter. Casting the same vote twice is harmless.

    Rejected, changing nothing: a battle not served to this voter or no longer open (or gone back to
    the pool when the voter's hold ran out), a vote sooner than ARENA_VOTE_MIN_SECONDS after serving,
    and votes over the per-voter, per-IP or daily limits. A vote after the hold ran out still counts
    while the sweeper has not returned the battle yet.
    """
    if outcome not in Vote.Outcome.values:
        raise VoteRejected(f"unknown verdict {outcome!r}", code="invalid_outcome")
    now = timezone.now()
    state = Battle.objects.filter(pk=battle_id, voter=voter).values("status", "served_at").first()
    if state is None:
        raise _not_held_rejection(battle_id=battle_id, voter=voter)
    if state["status"] == Battle.Status.VOTED:
        return Vote.objects.get(battle_id=battle_id)
    served_at = state["served_at"]
    if state["status"] != Battle.Status.SERVED or served_at is None:
        raise VoteRejected("this battle is no longer open for voting", code="not_open")
    looked = (now - served_at).total_seconds()
    if looked < settings.ARENA_VOTE_MIN_SECONDS:
        wait = settings.ARENA_VOTE_MIN_SECONDS - looked
        raise VoteRejected("read both answers first", code="too_early", retry_after_seconds=wait)
    _rate_limits_check(voter=voter, ip_hash=ip_hash, now=now)
    with transaction.atomic():
        battle = Battle.objects.select_for_update().select_related("question").filter(pk=battle_id).first()
        if battle is None or battle.voter_id != voter.pk:
            raise _not_held_rejection(battle_id=battle_id, voter=voter)
        if battle.status == Battle.Status.VOTED:
            return Vote.objects.get(battle=battle)
        if battle.status != Battle.Status.SERVED or battle.served_at is None:
            raise VoteRejected("this battle is no longer open for voting", code="not_open")
        # The vote's time is taken as late as possible, just before it commits: Elo applies votes in
        # time order, and one that commits after a later-stamped vote was counted costs a replay.
        cast_at = timezone.now()
        try:
            with transaction.atomic():
                vote = Vote.objects.create(
                    battle=battle,
                    voter=voter,
                    contender_a_id=battle.contender_a_id,
                    contender_b_id=battle.contender_b_id,
                    category_id=battle.question.category_id,
                    outcome=outcome,
                    created_at=cast_at,
                    decision_ms=min(
                        round((cast_at - battle.served_at).total_seconds() * 1000), _LONGEST_DECISION_MS
                    ),
                    ip_hash=ip_hash,
                )
        except IntegrityError:
            # One vote per battle is the database's rule; the first one stands.
            return Vote.objects.get(battle=battle)
        battle.status = Battle.Status.VOTED
        battle.voted_at = cast_at
        battle.save(update_fields=["status", "voted_at"])
        pair_counts_add(votes=[vote])
        ratings_refresh_request()
    return vote


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
