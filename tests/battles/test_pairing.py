"""Adaptive pairing: the policy's probabilities on small boards worked out by hand, its floor, its
exploration share and the boost, and battle_draw drawing by it from a real board in PostgreSQL."""

import math
import random
from collections import Counter

import numpy as np
import pytest
from django.test import Client

from battles import pairing
from battles.models import Battle, QuestionVotes
from battles.pairing import PairingSettings, pair_distribution
from battles.services import pool
from battles.services.pool import battle_draw, drawable_contenders, pairing_plan
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot
from tests.factories import AnswerFactory, ContenderFactory, OfflineContenderFactory, QuestionFactory

LOG = 400 / math.log(10)  # rating points per natural-log unit


def win(gap_points: float) -> float:
    return 1 / (1 + 10 ** (-gap_points / 400))


def one_vote(gap_points: float) -> float:
    """A vote's Fisher information p (1 - p) between contenders this far apart."""
    return win(gap_points) * (1 - win(gap_points))


def votes_everywhere(n: int, count: int) -> np.ndarray:
    votes = np.full((n, n), count, dtype=np.int64)
    np.fill_diagonal(votes, 0)
    return votes


def distribution(ratings, errors, votes, weights=None, **settings):
    n = len(ratings)
    return pair_distribution(
        contender_ids=list(range(1, n + 1)),
        ratings=np.array(ratings, dtype=float),
        standard_errors=np.array(errors, dtype=float),
        pair_votes=votes,
        draw_weights=np.ones(n) if weights is None else np.array(weights, dtype=float),
        settings=PairingSettings(**settings),
    )


def test_weighted_setting_is_todays_drawing_whatever_the_board():
    # Weights (0.2, 1, 1): two successive picks without replacement, as battle_draw always did.
    drawn = distribution(
        [1000, 1005, 1600], [10, 10, 10], votes_everywhere(3, 0), [0.2, 1, 1], policy="weighted"
    )
    light_heavy = 0.2 / 2.2 * 1 / 2 + 1 / 2.2 * 0.2 / 1.2
    heavy_heavy = 1 / 2.2 * 1 / 1.2 * 2
    assert drawn.probabilities == pytest.approx([light_heavy, light_heavy, heavy_heavy], abs=1e-12)
    assert drawn.probabilities.sum() == pytest.approx(1.0)
    assert drawn.shares == pairing.PolicyShares(exploration=1.0, floor=0.0, information=0.0)
    assert not drawn.focused.any()
    # The same as test_drawing's chance of the light contender appearing in a battle.
    assert 2 * light_heavy == pytest.approx(2 * (0.2 / 2.2) * 0.5 + 2 * (1 / 2.2) * (0.2 / 1.2))


def test_three_contenders_with_no_votes_yet_exact_probabilities():
    """A and B level, C far above. Without votes the paths carry nothing: a gap's variance is the sum
    of its two variances, and only A–B's gap is open (B–C's intervals are far apart)."""
    drawn = distribution([1000, 1000, 1600], [20, 20, 20], votes_everywhere(3, 0))
    v = (20 / LOG) ** 2
    w_level, w_far = one_vote(0), one_vote(600)
    resistance = 2 * v  # of the gap A–B
    gain_ab = w_level * resistance**2 / (1 + w_level * resistance)  # the gap itself
    gain_ab += w_level * (v**2 + v**2) / (1 + w_level * 2 * v)  # A's and B's own variances, need 1 each
    gain_far = w_far * v**2 / (1 + w_far * 2 * v)  # A's (or B's) own variance only
    cubes = np.array([gain_ab**3, gain_far**3, gain_far**3])
    expected = 0.2 * np.full(3, 1 / 3) + 0.2 * np.full(3, 1 / 3) + 0.6 * cubes / cubes.sum()
    assert drawn.shares == pairing.PolicyShares(exploration=0.2, floor=0.2, information=pytest.approx(0.6))
    assert drawn.probabilities == pytest.approx(expected, rel=1e-12)
    assert drawn.probability_of(1, 2) == pytest.approx(0.2 / 3 + 0.2 / 3 + 0.6 * cubes[0] / cubes.sum())
    assert drawn.probability_of(2, 1) == drawn.probability_of(1, 2)
    assert drawn.probability_of(1, 2) > 0.99 * (0.4 / 3 + 0.6)


def test_paths_through_a_third_contender_count_with_votes():
    """Every pair has 40 votes; contenders level, so every pair's vote carries ¼. The gap A–B (and
    B–C) is known through its direct votes and the path through the third; a vote A–C helps A–B
    through that path, less than a vote A–B itself."""
    drawn = distribution([1000, 1000, 1000], [30, 30, 30], votes_everywhere(3, 40), exploration=0.0)
    w = 0.25
    c = 40 * w  # conductance of each pair
    v = (30 / LOG) ** 2
    resistance = min(1 / (c + c * c / (c + c)), 2 * v)  # direct and through the third
    through = c + c  # the path's two conductances, added up
    added = c * c * w / (through * (through + w))  # S(c + w, c) − S(c, c)

    def fall(conductance: float) -> float:
        return conductance * resistance**2 / (1 + conductance * resistance)

    own = w / (1 + w * 2 * v)
    # Order A, B, C (ties by position): gaps A–B and B–C, both open (intervals overlap); B's needs: 2.
    gain_ab = fall(w) + fall(added) + own * (1 * v**2 + 2 * v**2)  # its gap, and B–C through A
    gain_bc = gain_ab
    gain_ac = fall(added) + fall(added) + own * (1 * v**2 + 1 * v**2)  # both gaps through B
    cubes = np.array([gain_ab, gain_ac, gain_bc]) ** 3
    assert drawn.shares == pairing.PolicyShares(exploration=0.0, floor=0.0, information=1.0)
    assert drawn.probabilities == pytest.approx(cubes / cubes.sum(), rel=1e-12)
    assert drawn.probability_of(1, 3) < drawn.probability_of(1, 2) == drawn.probability_of(2, 3)


def test_clearly_separated_neighbours_are_not_favoured():
    """Two tight pairs far apart: the gap between them is closed, and the pairs across it get little
    beyond exploration (a vote across still helps a tight pair a little, through the paths and its
    own interval)."""
    drawn = distribution([1000, 1010, 1400, 1410], [15, 15, 15, 15], votes_everywhere(4, 20))
    exploring = 0.2 / 6
    across = [drawn.probability_of(a, b) for a, b in [(1, 3), (1, 4), (2, 3), (2, 4)]]
    assert drawn.shares == pairing.PolicyShares(exploration=0.2, floor=0.0, information=pytest.approx(0.8))
    assert all(exploring < chance < exploring + 0.005 for chance in across)
    assert drawn.probability_of(1, 2) == pytest.approx(drawn.probability_of(3, 4))
    assert exploring + 0.8 / 2 - 0.01 < drawn.probability_of(1, 2) < exploring + 0.8 / 2
    # The need of the gap between the pairs: 390 points apart, the intervals' half-widths add up to 59.
    _, needs = pairing.neighbour_needs(np.array([1000.0, 1010, 1400, 1410]), np.full(4, 15.0))
    assert needs.tolist() == [1.0, 0.0, 1.0]


def test_a_gap_fades_from_touching_intervals_to_clearly_separated():
    errors = np.array([10.0, 10.0])
    reach = pairing.Z_95 * 20  # the two half-widths
    for gap, need in [
        (0.5 * reach, 1.0),
        (reach, 1.0),
        (1.5 * reach, 0.5),
        (2 * reach, 0.0),
        (3 * reach, 0.0),
    ]:
        _, needs = pairing.neighbour_needs(np.array([1000.0, 1000.0 + gap]), errors)
        assert needs.tolist() == [pytest.approx(need)]


def test_when_every_neighbour_is_separated_the_information_share_explores():
    drawn = distribution([1000, 1500, 2000], [10, 10, 10], votes_everywhere(3, 50))
    assert drawn.shares == pairing.PolicyShares(exploration=pytest.approx(1.0), floor=0.0, information=0.0)
    assert drawn.probabilities == pytest.approx(np.full(3, 1 / 3))


def test_the_floor_goes_to_pairs_below_it_by_what_they_lack_until_none_is_left():
    votes = votes_everywhere(4, 30)
    votes[0, 1] = votes[1, 0] = 2  # lacks 3
    votes[2, 3] = votes[3, 2] = 4  # lacks 1
    far_apart = [1000, 1500, 2000, 2500]  # nothing to learn: information explores
    drawn = distribution(far_apart, [10] * 4, votes, pair_floor=5, floor_share=0.3, exploration=0.2)
    assert drawn.shares == pairing.PolicyShares(exploration=pytest.approx(0.7), floor=0.3, information=0.0)
    assert drawn.probability_of(1, 2) == pytest.approx(0.7 / 6 + 0.3 * 3 / 4)
    assert drawn.probability_of(3, 4) == pytest.approx(0.7 / 6 + 0.3 * 1 / 4)
    assert drawn.probability_of(1, 3) == pytest.approx(0.7 / 6)
    assert drawn.focused.tolist() == pytest.approx([0.75, 0, 0, 0, 0, 0.25])

    votes[0, 1] = votes[1, 0] = votes[2, 3] = votes[3, 2] = 5
    covered = distribution(far_apart, [10] * 4, votes, pair_floor=5, floor_share=0.3, exploration=0.2)
    assert covered.shares.floor == 0.0
    # A pair never drawn (weight 0) is never owed the floor.
    unweighted = distribution(far_apart, [10] * 4, votes_everywhere(4, 0), [1, 1, 1, 0], floor_share=0.3)
    assert unweighted.probability_of(1, 4) == unweighted.probability_of(2, 4) == 0.0


def test_exploration_share_is_the_weighted_drawing_mixed_in():
    ratings, errors, votes = [1000, 1010, 1030, 1200], [20, 20, 20, 20], votes_everywhere(4, 30)
    weights = [1, 2, 1, 1]
    mixed = distribution(ratings, errors, votes, weights, exploration=0.35)
    focused_only = distribution(ratings, errors, votes, weights, exploration=0.0)
    by_weight = distribution(ratings, errors, votes, weights, policy="weighted")
    assert mixed.shares == pairing.PolicyShares(exploration=0.35, floor=0.0, information=pytest.approx(0.65))
    assert mixed.probabilities == pytest.approx(
        0.35 * by_weight.probabilities + 0.65 * focused_only.probabilities
    )
    assert mixed.focused == pytest.approx(focused_only.probabilities)


def test_the_boost_multiplies_a_new_contenders_pairs_as_in_weighted_drawing():
    ratings, errors, votes = [1000, 1020, 1040], [25, 25, 25], votes_everywhere(3, 30)
    plain = distribution(ratings, errors, votes, [1, 1, 1], exploration=0.0)
    boosted = distribution(ratings, errors, votes, [4, 1, 1], exploration=0.0)  # weight × (1 + 3) at 0 votes
    ratio = boosted.probability_of(1, 2) / boosted.probability_of(2, 3)
    assert ratio == pytest.approx(4 * plain.probability_of(1, 2) / plain.probability_of(2, 3))


def test_a_contender_not_on_the_board_yet_is_drawn_at_least_as_often_as_by_weight():
    votes = votes_everywhere(4, 40)
    votes[3, :] = votes[:, 3] = 0
    weights = [1, 1, 1, 4]  # the newcomer's boost
    drawn = distribution([1000, 1050, 1100, np.nan], [15, 15, 15, np.nan], votes, weights)
    appears = sum(drawn.probability_of(4, other) for other in (1, 2, 3))
    by_weight = sum(drawn.weighted[k] for k in range(6) if drawn.first[k] == 3 or drawn.second[k] == 3)
    assert appears > by_weight > 0.8


def test_focused_pairs_stay_among_the_contenders_that_can_answer():
    drawn = distribution([1000, 1000, 1000, 1000], [30] * 4, votes_everywhere(4, 40), exploration=0.0)
    rng = random.Random(5)
    for _ in range(200):
        assert set(drawn.focused_pair(rng.random(), among={2, 3, 4})) <= {2, 3, 4}
        first, second = drawn.focused_pair(rng.random(), among={1, 2, 4}, with_contender=4)
        assert first == 4 and second in {1, 2}
    assert drawn.focused_pair(0.5, among={1}) is None
    assert drawn.focused_pair(0.5, among={1, 2, 3}, with_contender=4) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy": "random"}, "pairing policy 'random' is not one of adaptive, weighted"),
        ({"exploration": 1.5}, "exploration must be between 0 and 1"),
        ({"floor_share": -0.1}, "floor_share must be between 0 and 1"),
        ({"pair_floor": -1}, "floors must not be negative"),
    ],
)
def test_settings_out_of_range_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        PairingSettings(**changes)


def test_a_call_at_260_contenders_stays_quadratic_in_memory():
    """Every array the policy builds is at most n × n (the speed is measured by make bench)."""
    n = 260
    rng = np.random.default_rng(0)
    drawn = distribution(
        rng.normal(1000, 80, n), rng.uniform(5, 40, n), votes_everywhere(n, 7), rng.uniform(0.5, 2, n)
    )
    assert len(drawn.probabilities) == n * (n - 1) // 2
    assert drawn.probabilities.sum() == pytest.approx(1.0)
    assert (drawn.probabilities >= 0).all()


# --- battle_draw with a board in PostgreSQL ------------------------------------------------------


def board_make(contenders, ratings, errors, votes) -> RatingSnapshot:
    """A board as a ratings refresh writes it: one row per contender and the pair counts."""
    snapshot = RatingSnapshot.objects.create(vote_count=int(np.triu(votes).sum()), duration_ms=1)
    for contender, rating, error, row in zip(contenders, ratings, errors, votes, strict=True):
        ContenderRating.objects.create(
            snapshot=snapshot,
            contender=contender,
            elo=rating,
            bt_rating=rating,
            sandwich_low=rating - pairing.Z_95 * error,
            sandwich_high=rating + pairing.Z_95 * error,
            ci_low=rating - pairing.Z_95 * error,
            ci_high=rating + pairing.Z_95 * error,
            wins=0,
            losses=0,
            ties=0,
            both_bad=0,
            votes=int(sum(row)),
        )
    RatingMatrix.objects.create(
        snapshot=snapshot,
        contender_ids=[contender.pk for contender in contenders],
        battle_counts=np.asarray(votes).tolist(),
        win_rates=[[None] * len(contenders)] * len(contenders),
        predicted_win_rates=[[None] * len(contenders)] * len(contenders),
    )
    return snapshot


def pairs_drawn(count: int, rng: random.Random) -> Counter[frozenset[int]]:
    drawn: Counter[frozenset[int]] = Counter()
    for _ in range(count):
        battle = battle_draw(rng=rng)
        drawn[frozenset((battle.contender_a_id, battle.contender_b_id))] += 1
    return drawn


@pytest.fixture
def fresh_plans():
    """Plans are kept per process for a few seconds: each test starts without one."""
    pool._plan_kept.clear()
    yield
    pool._plan_kept.clear()


@pytest.mark.django_db
def test_battle_draw_favours_the_pair_the_board_leaves_open(settings, fresh_plans):
    settings.ARENA_PAIRING_QUESTION_FLOOR = 0
    QuestionFactory.create_batch(3)
    close_a, close_b, middle, top = ContenderFactory.create_batch(4)
    board_make(
        [close_a, close_b, middle, top],
        ratings=[1000, 1005, 1300, 1600],
        errors=[10, 10, 10, 10],
        votes=votes_everywhere(4, 200),  # far past the boost and the floor
    )
    contenders, weights = drawable_contenders()
    plan = pairing_plan(contenders=contenders, weights=weights)
    assert plan is not None and plan.distribution.shares.exploration == 0.2
    favoured = plan.distribution.probability_of(close_a.pk, close_b.pk)
    assert 0.2 / 6 + 0.8 * 0.98 < favoured < 0.2 / 6 + 0.8  # every other gap is clearly closed

    adaptive = pairs_drawn(300, random.Random(7))
    assert adaptive[frozenset((close_a.pk, close_b.pk))] / 300 == pytest.approx(favoured, abs=0.06)

    settings.ARENA_PAIRING = "weighted"
    weighted = pairs_drawn(300, random.Random(7))
    assert weighted[frozenset((close_a.pk, close_b.pk))] / 300 == pytest.approx(1 / 6, abs=0.06)


@pytest.mark.django_db
def test_without_a_board_drawing_is_exactly_by_weight(settings, fresh_plans):
    QuestionFactory.create_batch(4)
    # Seeded contenders: a new answer's seed is not drawn, so both runs use the generator alike.
    for index in range(4):
        ContenderFactory(seed=100 * index)
    ContenderFactory(sampling_weight=3, seed=500)

    def draws(policy: str) -> list[tuple[int, int, int]]:
        settings.ARENA_PAIRING = policy
        rng = random.Random(3)
        battles = [battle_draw(rng=rng) for _ in range(25)]
        return [(b.question_id, b.contender_a_id, b.contender_b_id) for b in battles]

    assert draws("adaptive") == draws("weighted")


@pytest.mark.django_db
def test_questions_below_the_floor_are_drawn_first_outside_exploration(settings, fresh_plans):
    settings.ARENA_PAIRING_QUESTION_FLOOR = 3
    settings.ARENA_PAIRING_EXPLORATION = 0.25
    covered, also_covered, new = QuestionFactory.create_batch(3)
    QuestionVotes.objects.create(question=covered, votes=3)
    QuestionVotes.objects.create(question=also_covered, votes=40)
    contenders = ContenderFactory.create_batch(3)
    board_make(contenders, [1000, 1010, 1020], [20, 20, 20], votes_everywhere(3, 200))
    rng = random.Random(11)
    questions = Counter(battle_draw(rng=rng).question_id for _ in range(400))
    # 75% of draws take the question below the floor, the exploring 25% any of the three.
    assert questions[new.pk] / 400 == pytest.approx(0.75 + 0.25 / 3, abs=0.05)
    assert questions[covered.pk] / 400 == pytest.approx(0.25 / 3, abs=0.04)


@pytest.mark.django_db
def test_an_offline_contender_without_an_answer_is_replaced_not_drawn(settings, fresh_plans):
    settings.ARENA_PAIRING_QUESTION_FLOOR = 0
    answered, unanswered = QuestionFactory.create_batch(2)
    offline = OfflineContenderFactory()
    AnswerFactory(question=answered, contender=offline)
    level, middle, top = ContenderFactory.create_batch(3)
    # The open gap is the offline contender's: the policy wants offline–level above all.
    board_make([offline, level, middle, top], [1000, 1004, 1400, 1800], [10] * 4, votes_everywhere(4, 200))
    rng = random.Random(2)
    battles = [battle_draw(rng=rng) for _ in range(120)]
    with_offline = [b for b in battles if offline.pk in (b.contender_a_id, b.contender_b_id)]
    assert {b.question_id for b in with_offline} == {answered.pk}
    on_unanswered = [b for b in battles if b.question_id == unanswered.pk]
    assert on_unanswered and all(
        offline.pk not in (b.contender_a_id, b.contender_b_id) for b in on_unanswered
    )
    # Without the offline contender, the best remaining pair for that question is level–middle.
    pairs = Counter(frozenset((b.contender_a_id, b.contender_b_id)) for b in on_unanswered)
    assert pairs.most_common(1)[0][0] == frozenset((level.pk, middle.pk))
    pairs_answered = Counter(
        frozenset((b.contender_a_id, b.contender_b_id)) for b in battles if b.question_id == answered.pk
    )
    assert pairs_answered.most_common(1)[0][0] == frozenset((offline.pk, level.pk))


@pytest.mark.django_db
def test_the_plan_reads_the_board_in_a_few_queries_whatever_the_contenders(
    settings, fresh_plans, django_assert_max_num_queries
):
    QuestionFactory()

    def queries_for(count: int) -> int:
        pool._plan_kept.clear()
        contenders = ContenderFactory.create_batch(count)
        board_make(
            contenders, list(range(1000, 1000 + 10 * count, 10)), [20] * count, votes_everywhere(count, 9)
        )
        drawable, weights = drawable_contenders()
        with django_assert_max_num_queries(10) as captured:
            assert pairing_plan(contenders=drawable, weights=weights) is not None
        with django_assert_max_num_queries(1):  # kept: only the board's newest snapshot is looked up
            pairing_plan(contenders=drawable, weights=weights)
        return len(captured.captured_queries)

    assert queries_for(3) == queries_for(30)


@pytest.mark.django_db
def test_staff_see_the_policy_its_shares_and_the_pairs_it_favours(django_user_model, settings, fresh_plans):
    QuestionFactory()
    close_a, close_b, far = ContenderFactory.create_batch(3)
    close_a.name, close_b.name = "model-close-a", "model-close-b"
    close_a.save()
    close_b.save()
    board_make([close_a, close_b, far], [1000, 1003, 1500], [10, 10, 10], votes_everywhere(3, 200))
    staff = django_user_model.objects.create_user("operator", password="a-long-password-1", is_staff=True)
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    client.cookies["arena_language"] = "en"
    page = client.get("/admin/dashboard/")
    overview = page.context["pairing"]
    assert overview.policy == "adaptive" and overview.from_board
    assert overview.shares == pairing.PolicyShares(exploration=0.2, floor=0.0, information=pytest.approx(0.8))
    assert (overview.top_pairs[0]["a"], overview.top_pairs[0]["b"]) == ("model-close-a", "model-close-b")
    assert 100 * (0.2 / 3 + 0.8 * 0.99) < overview.top_pairs[0]["percent"] < 100 * (0.2 / 3 + 0.8)
    assert overview.top_pairs[0]["votes"] == 200 and overview.pairs_below_floor == 0
    content = page.content.decode()
    assert "Exploration (by weight)" in content and "model-close-a – model-close-b" in content
    assert "ARENA_PAIRING_PAIR_FLOOR" in content

    settings.ARENA_PAIRING = "weighted"
    weighted = client.get("/admin/dashboard/").context["pairing"]
    assert weighted.shares == pairing.PolicyShares(exploration=1.0, floor=0.0, information=0.0)
    assert not weighted.from_board
    assert Client().get("/admin/dashboard/").status_code == 302
    assert not Battle.objects.exists()


def test_the_judges_board_is_the_prior_of_contenders_the_voters_have_not_settled():
    """Four settled contenders on both boards (the judges' 100 points lower, give or take 10), one
    newcomer only the judges rated, one with 3 votes: the newcomer goes where the judges put it (on the
    voters' scale), the one with few votes to the precision-weighted mean; settled ones do not move."""
    ratings = np.array([1200.0, 1100.0, 1000.0, 900.0, np.nan, 1050.0])
    errors = np.array([10.0, 10.0, 10.0, 10.0, np.nan, 80.0])
    votes = np.array([500, 500, 500, 500, 0, 3])
    judge_ratings = np.array([1110.0, 990.0, 900.0, 810.0, 1160.0, 850.0])
    judge_errors = np.array([5.0, 5.0, 5.0, 5.0, 30.0, 40.0])
    blended, blended_errors = pairing.with_judge_prior(
        ratings, errors, votes, judge_ratings, judge_errors, settled_votes=100
    )
    # Differences voters − judges: 90, 110, 100, 90 → median 95; residuals −5, 15, −5, 5 around it.
    residuals = np.array([90.0, 110.0, 100.0, 90.0]) - 95.0
    spread = np.sqrt(np.mean(residuals**2))
    assert spread == pytest.approx(np.sqrt((25 + 225 + 25 + 25) / 4))
    assert blended[:4].tolist() == ratings[:4].tolist() and blended_errors[:4].tolist() == errors[:4].tolist()
    assert blended[4] == pytest.approx(1160.0 + 95.0)
    assert blended_errors[4] == pytest.approx(np.sqrt(30.0**2 + spread**2))
    prior, prior_error = 850.0 + 95.0, np.sqrt(40.0**2 + spread**2)
    weight_voters, weight_judges = 1 / 80.0**2, 1 / prior_error**2
    assert blended[5] == pytest.approx(
        (1050.0 * weight_voters + prior * weight_judges) / (weight_voters + weight_judges)
    )
    assert blended_errors[5] == pytest.approx(1 / np.sqrt(weight_voters + weight_judges))
    # Fewer than two contenders settled on both boards: the judges' scale is unknown, nothing moves.
    alone, alone_errors = pairing.with_judge_prior(
        ratings, errors, np.array([500, 0, 0, 0, 0, 3]), judge_ratings, judge_errors, settled_votes=100
    )
    assert np.array_equal(alone, ratings, equal_nan=True) and np.array_equal(
        alone_errors, errors, equal_nan=True
    )


@pytest.mark.django_db
def test_a_newcomer_is_paired_near_where_the_judges_put_it(settings, fresh_plans):
    """A newcomer the voters have not seen: without the judges it sits at the board's mean and is paired
    evenly; with a judge board that puts it next to the top contender, its pair with the top gets most
    of the draws and its pair with the bottom only what the floor and exploration give."""
    from judges.models import JudgeRating, JudgeSnapshot

    settings.ARENA_PAIRING_QUESTION_FLOOR = 0
    settings.ARENA_PRELIMINARY_VOTES = 100
    QuestionFactory.create_batch(3)
    bottom, low, high, top, newcomer = ContenderFactory.create_batch(5)
    settled = [bottom, low, high, top]
    board_make(
        settled, ratings=[700, 900, 1100, 1300], errors=[10, 10, 10, 10], votes=votes_everywhere(4, 300)
    )
    contenders, weights = drawable_contenders()

    def newcomer_pairs() -> tuple[float, float]:
        pool._plan_kept.clear()
        plan = pairing_plan(contenders=contenders, weights=weights)
        assert plan is not None
        with_top = plan.distribution.probability_of(newcomer.pk, top.pk)
        with_bottom = plan.distribution.probability_of(newcomer.pk, bottom.pk)
        return with_top, with_bottom

    before_top, before_bottom = newcomer_pairs()
    assert before_top == pytest.approx(before_bottom, rel=0.05)  # at the mean: evenly between them
    judged = JudgeSnapshot.objects.create(verdict_count=100)
    for contender, rating in zip([*settled, newcomer], [600, 800, 1000, 1200, 1190], strict=True):
        JudgeRating.objects.create(
            snapshot=judged, contender=contender, rating=rating, low=rating - 20, high=rating + 20,
            rank=1, rank_worst=1, verdicts=20, wins=10, losses=10, ties=0,
        )  # fmt: skip
    after_top, after_bottom = newcomer_pairs()
    # The bottom pair keeps what the coverage floor and exploration give every new pair, no more.
    assert after_top > 3 * before_top and after_top > 5 * after_bottom
    assert after_bottom < before_bottom
    settings.ARENA_PAIRING_JUDGE_PRIOR = False
    assert newcomer_pairs() == pytest.approx((before_top, before_bottom))
