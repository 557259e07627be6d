"""Drawing battles: weights, boosts, paused contenders, samples, and no repeated questions per voter."""

import datetime as dt
import random
import re
from collections import Counter

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from battles.models import Answer, Battle, Contender
from battles.services.pool import (
    NoBattleCanBeDrawn,
    battle_draw,
    battle_pool_refill,
    contender_draw_weights,
    drawable_contenders,
)
from battles.services.serving import battle_serve
from battles.services.voting import vote_cast
from ratings.models import ContenderRating, RatingSnapshot
from tests.factories import (
    AnswerFactory,
    ContenderFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoterFactory,
)

pytestmark = pytest.mark.django_db


def test_weights_are_sampling_weight_times_a_boost_that_fades_with_votes(settings):
    settings.ARENA_SAMPLING_BOOST = 3.0
    settings.ARENA_SAMPLING_BOOST_UNTIL_VOTES = 100
    new, halfway, veteran, heavy = (
        ContenderFactory(),
        ContenderFactory(),
        ContenderFactory(),
        ContenderFactory(sampling_weight=2.5),
    )
    snapshot = RatingSnapshot.objects.create(vote_count=250, duration_ms=1)
    for contender, votes in [(halfway, 50), (veteran, 400), (heavy, 100)]:
        ContenderRating.objects.create(
            snapshot=snapshot,
            contender=contender,
            elo=1000,
            wins=0,
            losses=0,
            ties=0,
            both_bad=0,
            votes=votes,
        )
    weights = contender_draw_weights(contenders=[new, halfway, veteran, heavy])
    assert weights == {new.pk: 4.0, halfway.pk: 2.5, veteran.pk: 1.0, heavy.pk: 2.5}


def test_pairs_follow_the_weights():
    QuestionFactory()
    light, heavy_one, heavy_two = (
        ContenderFactory(sampling_weight=0.2),
        ContenderFactory(sampling_weight=1),
        ContenderFactory(sampling_weight=1),
    )
    rng = random.Random(11)
    appearances: Counter[int] = Counter()
    for _ in range(600):
        battle = battle_draw(rng=rng)
        appearances.update([battle.contender_a_id, battle.contender_b_id])
    # Exact pair probabilities for weights (0.2, 1, 1): light appears in 2·(0.2/2.2)(1/2)+2·(1/2.2)(0.2/1.2).
    expected_light = 2 * (0.2 / 2.2) * 0.5 + 2 * (1 / 2.2) * (0.2 / 1.2)
    assert appearances[light.pk] / 600 == pytest.approx(expected_light, abs=0.05)
    assert appearances[heavy_one.pk] / 600 == pytest.approx(1 - expected_light / 2, abs=0.05)
    assert appearances[heavy_two.pk] / 600 == pytest.approx(1 - expected_light / 2, abs=0.05)


def test_zero_weight_and_paused_contenders_are_never_drawn():
    QuestionFactory()
    first, second = ContenderFactory(), ContenderFactory()
    ContenderFactory(sampling_weight=0)
    ContenderFactory(paused_until=timezone.now() + dt.timedelta(minutes=5))
    rng = random.Random(2)
    for _ in range(30):
        battle = battle_draw(rng=rng)
        assert {battle.contender_a_id, battle.contender_b_id} == {first.pk, second.pk}


@pytest.mark.parametrize(
    ("weights", "paused", "reason"),
    [
        ([0, 0, 0], [False, False, False], "0 healthy active contender(s) have a sampling weight above 0"),
        ([1, 0, 0], [False, False, False], "1 healthy active contender(s) have a sampling weight above 0"),
        ([1, 1, 1], [True, True, True], "0 of 3 active contenders can be drawn"),
        ([1, 1, 1], [True, True, False], "1 of 3 active contenders can be drawn"),
        ([0, 1, 1], [False, True, False], "1 healthy active contender(s)"),
    ],
)
def test_drawing_says_why_no_pair_exists_and_never_fails_otherwise(weights, paused, reason, settings):
    settings.ARENA_POOL_TARGET = 4
    QuestionFactory()
    for weight, is_paused in zip(weights, paused, strict=True):
        ContenderFactory(sampling_weight=weight, paused_until=timezone.now() if is_paused else None)
    with pytest.raises(NoBattleCanBeDrawn, match=re.escape(reason)):
        drawable_contenders()
    report = battle_pool_refill(rng=random.Random(0))
    assert report.battles_created == [] and reason in report.problem
    assert not Battle.objects.exists() and not Answer.objects.exists()


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -1.0, 2_000_000.0])
def test_the_database_refuses_weights_that_would_break_drawing(weight):
    with pytest.raises(IntegrityError, match="contender_weight_range"), transaction.atomic():
        ContenderFactory(sampling_weight=weight)
    assert not Contender.objects.exists()


def test_samples_get_their_own_seeds_and_are_drawn_uniformly():
    question = QuestionFactory()
    sampled = ContenderFactory(samples_per_question=3, seed=100)
    ContenderFactory(samples_per_question=1, seed=None)
    rng = random.Random(4)
    for _ in range(40):
        battle_draw(rng=rng)
    samples = Answer.objects.filter(question=question, contender=sampled).order_by("sample_index")
    assert [(answer.sample_index, answer.seed) for answer in samples] == [(0, 100), (1, 101), (2, 102)]
    other = Answer.objects.exclude(contender=sampled).get()
    assert other.sample_index == 0 and other.seed is not None
    used = Counter(
        answer_id
        for battle in Battle.objects.all()
        for answer_id in (battle.answer_a_id, battle.answer_b_id)
        if answer_id in {answer.pk for answer in samples}
    )
    assert len(used) == 3 and min(used.values()) >= 5


def test_offline_answers_take_part_as_samples():
    question = QuestionFactory()
    offline = OfflineContenderFactory()
    first = AnswerFactory(question=question, contender=offline, sample_index=0)
    second = AnswerFactory(question=question, contender=offline, sample_index=1)
    AnswerFactory(question=question, contender=offline, sample_index=2, status=Answer.Status.FAILED)
    ContenderFactory()
    rng = random.Random(8)
    used = set()
    for _ in range(30):
        battle = battle_draw(rng=rng)
        used |= {battle.answer_a_id, battle.answer_b_id}
    assert {first.pk, second.pk} <= used
    assert Answer.objects.filter(contender=offline).count() == 3


def offline_bank(question_count: int) -> list:
    questions = QuestionFactory.create_batch(question_count)
    contenders = OfflineContenderFactory.create_batch(2)
    for question in questions:
        for contender in contenders:
            AnswerFactory(question=question, contender=contender)
    return questions


def test_a_voter_sees_every_question_before_any_repeats(settings):
    settings.ARENA_POOL_TARGET = 20
    questions = offline_bank(5)
    # A pool crowded with battles on one question must not make the voter see it twice.
    for _ in range(6):
        battle_draw(rng=random.Random(0), question_ids=[questions[0].pk])
    voter = VoterFactory()
    seen = []
    rng = random.Random(1)
    for _ in range(5):
        battle = battle_serve(voter=voter, rng=rng)
        assert battle is not None
        seen.append(battle.question_id)
        vote_cast(battle_id=battle.pk, voter=voter, outcome="tie")
    assert sorted(seen) == sorted(question.pk for question in questions)
    # The bank is exhausted and every answer was revealed to the voter: no battle rather than a known
    # answer; a new answer on a question seen already makes a repeat possible.
    assert battle_serve(voter=voter, rng=rng) is None
    known = Answer.objects.filter(question=questions[2])
    for contender in Contender.objects.filter(answers__in=known):
        AnswerFactory(question=questions[2], contender=contender, sample_index=1)
    repeat = battle_serve(voter=voter, rng=rng)
    assert repeat is not None and repeat.question_id == questions[2].pk
    assert not {repeat.answer_a_id, repeat.answer_b_id} & set(
        known.filter(sample_index=0).values_list("pk", flat=True)
    )


def test_a_battle_drawn_for_a_voter_waits_for_its_answers_then_is_served():
    questions = offline_bank(1)
    seen_question = questions[0]
    fresh_question = QuestionFactory()
    endpoint_one, endpoint_two = ContenderFactory(), ContenderFactory()
    Contender.objects.filter(kind="offline").update(is_active=False)
    voter = VoterFactory()
    Battle.objects.create(
        question=seen_question,
        contender_a=endpoint_one,
        contender_b=endpoint_two,
        answer_a=AnswerFactory(question=seen_question, contender=endpoint_one),
        answer_b=AnswerFactory(question=seen_question, contender=endpoint_two),
        status=Battle.Status.VOTED,
        voter=voter,
        served_at=timezone.now(),
    )
    assert battle_serve(voter=voter) is None  # nothing ready on an unseen question: one is drawn
    reserved = Battle.objects.get(voter=voter, status=Battle.Status.GENERATING)
    assert reserved.question == fresh_question
    assert battle_serve(voter=voter) is None  # still waiting; no second battle is drawn
    assert Battle.objects.filter(voter=voter, status=Battle.Status.GENERATING).count() == 1
    Answer.objects.filter(pk__in=[reserved.answer_a_id, reserved.answer_b_id]).update(
        status=Answer.Status.DONE
    )
    Battle.objects.filter(pk=reserved.pk).update(status=Battle.Status.READY)
    assert battle_serve(voter=voter) == reserved
    reserved.refresh_from_db()
    assert reserved.status == Battle.Status.SERVED
    # A battle drawn for one voter never goes to another, even when it is the only ready one.
    Battle.objects.filter(pk=reserved.pk).update(status=Battle.Status.READY, served_at=None)
    other = VoterFactory()
    served_to_other = battle_serve(voter=other)
    assert served_to_other is None or served_to_other.pk != reserved.pk
    assert Battle.objects.get(pk=reserved.pk).voter == voter


def test_the_pool_does_not_count_battles_drawn_for_a_voter(settings):
    settings.ARENA_POOL_TARGET = 2
    offline_bank(3)
    voter = VoterFactory()
    battle_draw(rng=random.Random(0), reserved_for=voter)
    report = battle_pool_refill(rng=random.Random(1))
    assert report.open_before == 0 and len(report.battles_created) == 2


def test_a_retired_contender_is_never_drawn():
    question = QuestionFactory()
    kept = [OfflineContenderFactory() for _ in range(2)]
    retired = OfflineContenderFactory(is_retired=True)
    for contender in [*kept, retired]:
        AnswerFactory(question=question, contender=contender)
    drawable, weights = drawable_contenders()
    assert {contender.pk for contender in drawable} == {contender.pk for contender in kept}
    assert retired.pk not in weights
    rng = random.Random(3)
    drawn = [battle_draw(rng=rng) for _ in range(20)]
    assert all(retired.pk not in (battle.contender_a_id, battle.contender_b_id) for battle in drawn)
    # With two contenders left, retiring one leaves nothing to pair, and the reason says so.
    kept[0].is_retired = True
    kept[0].save()
    with pytest.raises(NoBattleCanBeDrawn, match="1 active contender"):
        drawable_contenders()
