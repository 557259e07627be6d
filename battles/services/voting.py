"""Serving battles to anonymous voters and recording their verdicts."""

import random
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from battles.models import Battle, Vote, Voter
from battles.services.pool import battle_pool_refill_request
from ratings.services import ratings_refresh_request

# Ready battles are claimed oldest first, but among a few of the oldest at random, so voters
# arriving together do not all race for the same row.
_CLAIM_CANDIDATES = 8


class VoteRejected(Exception):
    """A vote that cannot be counted; the message is safe to show to the voter."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def voter_get_or_create(*, voter_id: uuid.UUID | None) -> Voter:
    if voter_id is not None:
        voter = Voter.objects.filter(pk=voter_id).first()
        if voter is not None:
            return voter
    return Voter.objects.create()


def battle_serve(*, voter: Voter, rng: random.Random | None = None) -> Battle | None:
    """The battle this voter should see: the one already served and not voted, or a new ready one.

    Returns None when the pool has no ready battle; a refill is requested either way.
    """
    current = (
        Battle.objects.filter(voter=voter, status=Battle.Status.SERVED)
        .select_related("question", "answer_a", "answer_b")
        .order_by("served_at")
        .first()
    )
    if current is not None:
        return current
    rng = rng or random.Random()
    ready = Battle.objects.filter(status=Battle.Status.READY)
    seen_questions = Battle.objects.filter(voter=voter).values("question_id")
    # Prefer questions this voter has not been shown; fall back to any ready battle.
    for candidates in (ready.exclude(question_id__in=seen_questions), ready):
        candidate_ids = list(
            candidates.order_by("created_at").values_list("id", flat=True)[:_CLAIM_CANDIDATES]
        )
        rng.shuffle(candidate_ids)
        for battle_id in candidate_ids:
            claimed = Battle.objects.filter(pk=battle_id, status=Battle.Status.READY).update(
                status=Battle.Status.SERVED, voter=voter, served_at=timezone.now()
            )
            if claimed:
                battle_pool_refill_request()
                return Battle.objects.select_related("question", "answer_a", "answer_b").get(pk=battle_id)
    battle_pool_refill_request()
    return None


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
