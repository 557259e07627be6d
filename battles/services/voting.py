"""Serving battles to anonymous voters and recording their verdicts."""

import random
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from battles.models import Battle, Question, Vote, Voter
from battles.services.pool import (
    SERVABLE,
    NoBattleCanBeDrawn,
    answers_queue,
    battle_draw,
    battle_pool_refill_request,
)
from ratings.services import ratings_refresh_request

# Ready battles are claimed oldest first, but among a few of the oldest at random, so voters
# arriving together do not all race for the same row.
_CLAIM_CANDIDATES = 8
# last_seen_at is a rough activity mark: refreshing it on every page view would be a write per view.
_LAST_SEEN_RESOLUTION = timedelta(hours=1)


class VoteRejected(Exception):
    """A vote that cannot be counted; the message is safe to show to the voter."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def voter_get_or_create(*, voter_id: uuid.UUID | None) -> Voter:
    if voter_id is not None:
        voter = Voter.objects.filter(pk=voter_id).first()
        if voter is not None:
            now = timezone.now()
            if now - voter.last_seen_at > _LAST_SEEN_RESOLUTION:
                Voter.objects.filter(pk=voter.pk).update(last_seen_at=now)
                voter.last_seen_at = now
            return voter
    return Voter.objects.create()


def _claim(battle_ids: list[int], voter: Voter, *, reserved: bool, rng: random.Random) -> Battle | None:
    """Serve the first of these ready battles that no one else takes first."""
    rng.shuffle(battle_ids)
    for battle_id in battle_ids:
        available = Battle.objects.filter(pk=battle_id, status=Battle.Status.READY)
        available = available.filter(voter=voter) if reserved else available.filter(voter__isnull=True)
        if available.update(status=Battle.Status.SERVED, voter=voter, served_at=timezone.now()):
            return Battle.objects.select_related("question", "answer_a", "answer_b").get(pk=battle_id)
    return None


def battle_serve(*, voter: Voter, rng: random.Random | None = None) -> Battle | None:
    """The battle this voter should see, or None while one is being prepared.

    In order: the battle already served and not voted on; a battle drawn for this voter; a ready
    battle from the shared pool on a question the voter has not seen. If the pool has none, a battle
    is drawn for the voter on an unseen question (ready at once when its answers exist). Questions
    repeat only once the voter has seen the whole bank. A pool refill is requested either way.
    """
    rng = rng or random.Random()
    current = (
        Battle.objects.filter(voter=voter, status=Battle.Status.SERVED)
        .select_related("question", "answer_a", "answer_b")
        .order_by("served_at")
        .first()
    )
    if current is not None:
        return current
    battle_pool_refill_request()
    reserved = list(
        Battle.objects.filter(voter=voter, status=Battle.Status.READY).values_list("id", flat=True)
    )
    battle = _claim(reserved, voter, reserved=True, rng=rng) if reserved else None
    if battle is not None:
        return battle
    seen = Battle.objects.filter(voter=voter, served_at__isnull=False).values("question_id")
    pool = Battle.objects.filter(status=Battle.Status.READY, voter__isnull=True).filter(SERVABLE)
    fresh = list(
        pool.exclude(question_id__in=seen)
        .order_by("created_at")
        .values_list("id", flat=True)[:_CLAIM_CANDIDATES]
    )
    battle = _claim(fresh, voter, reserved=False, rng=rng)
    if battle is not None:
        return battle
    if Battle.objects.filter(voter=voter, status=Battle.Status.GENERATING).exists():
        return None  # a battle drawn for this voter is on its way
    unseen = list(Question.objects.filter(is_active=True).exclude(id__in=seen).values_list("id", flat=True))
    if unseen:
        created_answer_ids: set[int] = set()
        try:
            drawn = battle_draw(
                rng=rng, question_ids=unseen, reserved_for=voter, created_answer_ids=created_answer_ids
            )
        except NoBattleCanBeDrawn:
            drawn = None
        answers_queue(answer_ids=list(created_answer_ids))
        if drawn is not None:
            return (
                _claim([drawn.pk], voter, reserved=True, rng=rng)
                if drawn.status == Battle.Status.READY
                else None
            )
    # The voter has seen every question (or none of the unseen can be drawn): repeats are allowed.
    anything = list(pool.order_by("created_at").values_list("id", flat=True)[:_CLAIM_CANDIDATES])
    return _claim(anything, voter, reserved=False, rng=rng)


def vote_cast(*, battle_id: int, voter: Voter, outcome: str) -> Vote:
    """Record a verdict on a battle served to this voter. Casting the same vote twice is harmless."""
    if outcome not in Vote.Outcome.values:
        raise VoteRejected(f"unknown verdict {outcome!r}", code="invalid_outcome")
    with transaction.atomic():
        battle = Battle.objects.select_for_update().select_related("question").filter(pk=battle_id).first()
        if battle is None or battle.voter_id != voter.pk:
            raise VoteRejected("this battle was not served to you", code="not_served_to_voter")
        if battle.status == Battle.Status.VOTED:
            return Vote.objects.get(battle=battle)
        if battle.status != Battle.Status.SERVED:
            raise VoteRejected("this battle is no longer open for voting", code="not_open")
        now = timezone.now()
        try:
            with transaction.atomic():
                vote = Vote.objects.create(
                    battle=battle,
                    voter=voter,
                    contender_a_id=battle.contender_a_id,
                    contender_b_id=battle.contender_b_id,
                    category_id=battle.question.category_id,
                    outcome=outcome,
                    created_at=now,
                )
        except IntegrityError:
            # One vote per battle is the database's rule; the first one stands.
            return Vote.objects.get(battle=battle)
        battle.status = Battle.Status.VOTED
        battle.voted_at = now
        battle.save(update_fields=["status", "voted_at"])
        ratings_refresh_request()
    return vote
