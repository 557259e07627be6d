"""No recognised answers: once a voter has seen which model wrote an answer (revealed after their vote,
or read in browse mode), that answer is never served to them in a battle again; another sample, pair
or question is used, or none."""

import random

import pytest
from django.test import Client

from battles.models import Answer, AnswerRead, Battle, Vote
from battles.selectors import answers_revealed_to
from battles.services.pool import battle_pool_refill
from battles.services.serving import battle_serve
from battles.services.voting import vote_cast
from tests.factories import AnswerFactory, OfflineContenderFactory, QuestionFactory, VoterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _votes_at_once(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 0
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 10_000
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = 10_000
    settings.ARENA_POOL_TARGET = 4


def _bank(questions: int, models: int) -> list:
    contenders = [OfflineContenderFactory(name=f"model {n}") for n in range(models)]
    for number in range(questions):
        question = QuestionFactory(text=f"Question {number}?")
        for contender in contenders:
            AnswerFactory(question=question, contender=contender, text=f"{contender.name} on {number}")
    return contenders


def _vote_through(voter, *, votes: int, rng: random.Random) -> tuple[int, int]:
    """Serve and vote `votes` times as one voter; returns (battles served, served with an answer the
    voter had seen revealed)."""
    served = recognised = 0
    for _ in range(votes):
        battle_pool_refill(rng=rng)
        seen = answers_revealed_to(voter=voter)
        battle = battle_serve(voter=voter, rng=rng, ip_hash="")
        if battle is None:
            break
        served += 1
        recognised += bool({battle.answer_a_id, battle.answer_b_id} & seen)
        vote_cast(battle_id=battle.pk, voter=voter, outcome=rng.choice(["a", "b", "tie", "both_bad"]))
    return served, recognised


def test_simulated_voters_past_the_whole_bank_never_meet_an_answer_they_saw_revealed():
    _bank(questions=6, models=5)  # 60 answer pairs on 6 questions; 2 answers revealed per vote
    rng = random.Random(11)
    for _ in range(3):
        voter = VoterFactory()
        served, recognised = _vote_through(voter, votes=20, rng=rng)
        # Questions repeat after the sixth vote; 30 answers give at most 15 votes without a repeat.
        assert served >= 12 and recognised == 0
        # Every answer the voter ever saw is told apart: no battle of theirs shares one with another.
        shown = list(Battle.objects.filter(voter=voter).values_list("answer_a_id", "answer_b_id"))
        answers = [answer for pair in shown for answer in pair]
        assert len(answers) == len(set(answers))


def test_when_every_pair_left_has_a_seen_answer_nothing_is_served():
    _bank(questions=1, models=3)
    voter = VoterFactory()
    served, recognised = _vote_through(voter, votes=5, rng=random.Random(2))
    # One battle: after it two of the three answers are known, and a battle needs two unknown ones.
    assert (served, recognised) == (1, 0)
    assert Vote.objects.count() == 1


def test_an_answer_read_in_browse_mode_is_never_served_to_that_reader():
    contenders = _bank(questions=2, models=3)
    first_question = Answer.objects.order_by("pk").first().question
    client = Client()
    client.get("/")  # a voter cookie, and a battle held
    voter_id = client.cookies["arena_voter"].value
    assert voter_id
    html = client.get(
        f"/browse/questions/{first_question.pk}/?a={contenders[0].pk}&b={contenders[1].pk}"
    ).content.decode()
    assert "model 0" in html
    voter = Battle.objects.get(status=Battle.Status.SERVED).voter
    read = set(AnswerRead.objects.filter(voter=voter).values_list("answer_id", flat=True))
    assert len(read) == 2 and read <= answers_revealed_to(voter=voter)
    rng = random.Random(5)
    served_battle = Battle.objects.get(voter=voter)
    vote_cast(battle_id=served_battle.pk, voter=voter, outcome="a")
    for _ in range(4):
        battle = battle_serve(voter=voter, rng=rng, ip_hash="")
        if battle is None:
            break
        assert not {battle.answer_a_id, battle.answer_b_id} & read
        vote_cast(battle_id=battle.pk, voter=voter, outcome="b")


def test_another_sample_of_the_same_model_is_drawn_when_one_was_seen():
    question = QuestionFactory()
    first, second = OfflineContenderFactory(), OfflineContenderFactory()
    seen_a = AnswerFactory(question=question, contender=first, text="first, sample 0")
    other_a = AnswerFactory(question=question, contender=first, sample_index=1, text="first, sample 1")
    seen_b = AnswerFactory(question=question, contender=second, text="second, sample 0")
    other_b = AnswerFactory(question=question, contender=second, sample_index=1, text="second, sample 1")
    voter = VoterFactory()
    AnswerRead.objects.bulk_create(
        [AnswerRead(voter=voter, answer=answer, question=question) for answer in (seen_a, seen_b)]
    )
    battle = battle_serve(voter=voter, rng=random.Random(1), ip_hash="")
    assert battle is not None and {battle.answer_a_id, battle.answer_b_id} == {other_a.pk, other_b.pk}


def test_with_recognisable_answers_served_the_guard_is_off(settings):
    """ARENA_SERVE_RECOGNISABLE_ANSWERS (to measure the guard): answers the voter read or saw revealed
    come back."""
    settings.ARENA_SERVE_RECOGNISABLE_ANSWERS = True
    _bank(questions=2, models=3)
    voter = VoterFactory()
    read = list(Answer.objects.filter(question=Answer.objects.order_by("pk").first().question))
    AnswerRead.objects.bulk_create(
        [AnswerRead(voter=voter, answer=answer, question_id=answer.question_id) for answer in read]
    )
    rng = random.Random(3)
    served, recognised = _vote_through(voter, votes=8, rng=rng)
    assert served == 8 and recognised > 0
