import random
import uuid

import pytest

from battles.models import Battle, Vote
from battles.services.serving import battle_serve
from battles.services.voting import VoteRejected, vote_cast, voter_get_or_create
from tests.factories import AnswerFactory, BattleFactory, VoterFactory

pytestmark = pytest.mark.django_db


def test_voter_is_found_by_id_or_created():
    voter = VoterFactory()
    assert voter_get_or_create(voter_id=voter.pk) == voter
    unknown = voter_get_or_create(voter_id=uuid.uuid4())
    assert unknown != voter and unknown.pk is not None
    assert voter_get_or_create(voter_id=None) not in (voter, unknown)


def test_serve_claims_a_ready_battle_and_keeps_it_until_voted():
    voter = VoterFactory()
    battle = BattleFactory()
    served = battle_serve(voter=voter)
    assert served == battle
    battle.refresh_from_db()
    assert (battle.status, battle.voter, battle.served_at is not None) == (Battle.Status.SERVED, voter, True)
    # Reloading the page shows the same battle, not a new one.
    BattleFactory()
    assert battle_serve(voter=voter) == battle


def test_serve_returns_none_when_pool_is_empty():
    assert battle_serve(voter=VoterFactory()) is None


def test_serve_prefers_questions_the_voter_has_not_seen():
    voter = VoterFactory()
    seen = BattleFactory(status=Battle.Status.VOTED, voter=voter, served_at="2026-01-01T00:00:00Z")
    same_question = BattleFactory(question=seen.question)
    fresh = BattleFactory()
    assert battle_serve(voter=voter, rng=random.Random(0)) == fresh
    vote_cast(battle_id=fresh.pk, voter=voter, outcome="a")
    # Only a seen question is left: better than nothing.
    assert battle_serve(voter=voter) == same_question


def test_two_voters_never_get_the_same_battle():
    BattleFactory.create_batch(2)
    first = battle_serve(voter=VoterFactory())
    second = battle_serve(voter=VoterFactory())
    assert first is not None and second is not None and first != second
    third = battle_serve(voter=VoterFactory())  # a battle drawn for this voter, or none yet
    assert third is None or third.pk not in {first.pk, second.pk}


def test_vote_is_recorded_with_pair_and_category():
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="tie")
    battle.refresh_from_db()
    assert battle.status == Battle.Status.VOTED and battle.voted_at == vote.created_at
    assert (vote.contender_a, vote.contender_b, vote.category, vote.outcome, vote.voter) == (
        battle.contender_a,
        battle.contender_b,
        battle.question.category,
        "tie",
        voter,
    )


def test_repeated_vote_is_idempotent():
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    first = vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    again = vote_cast(battle_id=battle.pk, voter=voter, outcome="b")
    assert again == first and again.outcome == "a"
    assert Vote.objects.count() == 1


def test_vote_on_someone_elses_battle_changes_nothing():
    owner, intruder = VoterFactory(), VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=owner)
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=intruder, outcome="a")
    assert rejection.value.code == "not_served_to_voter"
    battle.refresh_from_db()
    assert battle.status == Battle.Status.SERVED and not Vote.objects.exists()


@pytest.mark.parametrize("status", [Battle.Status.READY, Battle.Status.RETIRED])
def test_vote_on_a_battle_not_served_is_rejected(status):
    voter = VoterFactory()
    battle = BattleFactory(status=status)
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    assert rejection.value.code == "not_served_to_voter"
    assert not Vote.objects.exists()


def test_vote_on_a_retired_battle_served_to_voter_is_rejected():
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.RETIRED)
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    assert rejection.value.code == "not_open"
    assert not Vote.objects.exists()


def test_unknown_outcome_is_rejected():
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="c")
    assert rejection.value.code == "invalid_outcome"
    assert not Vote.objects.exists()


def test_database_forbids_two_votes_on_one_battle_and_self_battles():
    from django.db import IntegrityError, transaction

    battle = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    Vote.objects.create(
        battle=battle, contender_a=battle.contender_a, contender_b=battle.contender_b, outcome="a"
    )
    with pytest.raises(IntegrityError, match="battles_vote_battle_id_key"), transaction.atomic():
        Vote.objects.create(
            battle=battle, contender_a=battle.contender_a, contender_b=battle.contender_b, outcome="b"
        )
    with pytest.raises(IntegrityError, match="vote_distinct_contenders"), transaction.atomic():
        Vote.objects.create(contender_a=battle.contender_a, contender_b=battle.contender_a, outcome="a")
    same = battle.contender_a
    other_sample = AnswerFactory(question=battle.question, contender=same, sample_index=1)
    with pytest.raises(IntegrityError, match="battle_distinct_contenders"), transaction.atomic():
        Battle.objects.create(
            question=battle.question,
            contender_a=same,
            contender_b=same,
            answer_a=battle.answer_a,
            answer_b=other_sample,
        )
    assert Vote.objects.count() == 1
    assert Battle.objects.count() == 1
