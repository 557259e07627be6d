"""Rank spread and the votes a lead rests on: hand-made intervals, cases small enough to work out by hand
or by trying every removal, and a check that every reported removal really swaps the pair."""

import itertools
import math

import numpy as np
import pytest

from ratings.algorithms import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    PairCounts,
    bradley_terry,
    neighbour_fragility,
    rank_spread,
    ranks_from_intervals,
)
from ratings.fragility import SWAP_TOLERANCE

SCALE = 400 / math.log(10)


def counts_from(cells, n):
    """cells: {(i, j, outcome): votes}, i on side A."""
    counts = np.zeros((n, n, 4), dtype=np.int64)
    for (i, j, outcome), votes in cells.items():
        counts[i, j, outcome] = votes
    return PairCounts(counts)


def without(counts, removed):
    """The counts less removed votes given as (i, j, i's score, votes): taken from either side's cell."""
    remaining = np.array(counts.counts)
    for i, j, score, votes in removed:
        cells = (
            [(i, j, OUTCOME_A), (j, i, OUTCOME_B)]
            if score == 1.0
            else [(i, j, OUTCOME_TIE), (j, i, OUTCOME_TIE)]
        )
        for cell in cells:
            taken = min(votes, remaining[cell])
            remaining[cell] -= taken
            votes -= taken
        assert votes == 0
    return PairCounts(remaining)


def swapped(counts, upper, lower):
    theta = bradley_terry(counts).log_strengths
    return theta[lower] >= theta[upper] - SWAP_TOLERANCE


# --- rank spread ---


def test_rank_spread_on_hand_made_intervals():
    #            A        B        C       D         E: touches D's top only
    low = np.array([10.0, 15.0, 0.0, 30.0, 40.0])
    high = np.array([20.0, 25.0, 5.0, 40.0, 50.0])
    best, worst = rank_spread(low, high)
    # best: others whose low > my high. A: D, E. B: D, E. C: A, B, D, E. D: none (E's low 40 is not > 40).
    assert best.tolist() == [3, 3, 5, 1, 1]
    # worst: others whose high > my low. A (10): B, D, E. B (15): A, D, E. C (0): all four.
    # D (30): E. E (40): none (D's high 40 is not > 40).
    assert worst.tolist() == [4, 4, 5, 2, 1]
    assert best.tolist() == ranks_from_intervals(low, high).tolist()
    assert (best <= worst).all()


def test_rank_spread_of_equal_points_and_of_one_contender():
    best, worst = rank_spread(np.array([5.0, 5.0, 1.0]), np.array([5.0, 5.0, 1.0]))
    assert best.tolist() == [1, 1, 3]
    assert worst.tolist() == [1, 1, 3]
    best, worst = rank_spread(np.array([900.0]), np.array([1100.0]))
    assert best.tolist() == worst.tolist() == [1]


# --- fragility ---


def test_six_four_needs_two_votes_removed():
    # A beat B 6-4. Removing one of A's wins leaves 5-4: A still above. Removing two leaves 4-4: equal
    # ratings, which counts as swapped (lower's rating >= upper's). So k = 2.
    counts = counts_from({(0, 1, OUTCOME_A): 4, (1, 0, OUTCOME_B): 2, (0, 1, OUTCOME_B): 4}, 2)
    fit = bradley_terry(counts)
    [pair] = neighbour_fragility(counts, fit)
    assert (pair.upper, pair.lower) == (0, 1)
    assert pair.gap == pytest.approx(SCALE * math.log(6 / 4), abs=1e-3)  # the ridge moves it 2e-5
    assert pair.votes == 2
    assert pair.tight
    assert pair.removed == ((0, 1, 1.0, 2),)
    # First order: H = 10 p q (e_A - e_B)(e_A - e_B)^T with p = 0.6, so w = (e_A - e_B) / 4.8, and one of
    # A's wins narrows the gap ln 1.5 by (1 - 0.6) * 2 / 4.8 = 1/6: ceil(6 ln 1.5) = ceil(2.43) = 3.
    assert pair.estimate == math.ceil(6 * math.log(1.5)) == 3
    assert swapped(without(counts, pair.removed), 0, 1)
    assert not swapped(without(counts, [(0, 1, 1.0, 1)]), 0, 1)


def test_ties_count_half_and_never_help_the_leader_lose():
    # 5 wins, 3 losses and 2 ties: scores 6 and 4 as in 6-4. Removing a tie narrows nothing (it leaves
    # 5.5 to 3.5), so the two removed votes are A's wins again.
    counts = counts_from({(0, 1, OUTCOME_A): 5, (0, 1, OUTCOME_B): 3, (0, 1, OUTCOME_TIE): 2}, 2)
    [pair] = neighbour_fragility(counts, bradley_terry(counts))
    assert pair.votes == 2
    assert pair.removed == ((0, 1, 1.0, 2),)


def test_more_votes_than_max_votes_is_none():
    # 60-40: 20 of A's wins must go (40-40).
    counts = counts_from({(0, 1, OUTCOME_A): 60, (0, 1, OUTCOME_B): 40}, 2)
    fit = bradley_terry(counts)
    [pair] = neighbour_fragility(counts, fit, max_votes=19)
    assert pair.votes is None
    assert pair.estimate is None  # first order: ceil(ln 1.5 / (0.4 * 2 / 48)) = 25 votes
    assert not pair.tight
    assert pair.removed == ()
    [pair] = neighbour_fragility(counts, fit, max_votes=20)
    assert pair.votes == 20
    assert pair.tight
    [pair] = neighbour_fragility(counts, fit)
    assert (pair.votes, pair.estimate) == (20, 25)


def brute_force(counts, upper, lower, cap):
    """The fewest votes whose removal swaps the pair, trying every removal of up to `cap` votes."""
    wins, draws = counts.wins_matrix(), counts.draws_matrix()
    kinds = [
        (i, j, score, int(votes))
        for i, j in itertools.permutations(range(counts.contender_count), 2)
        for score, votes in ((1.0, wins[i, j]), (0.5, draws[i, j] if i < j else 0))
        if votes
    ]
    for total in range(cap + 1):
        for split in itertools.product(*(range(min(votes, total) + 1) for *_, votes in kinds)):
            if sum(split) == total:
                removal = [(i, j, score, take) for (i, j, score, _), take in zip(kinds, split, strict=True)]
                if swapped(without(counts, removal), upper, lower):
                    return total
    return None


def test_three_contenders_agree_with_trying_every_removal():
    counts = counts_from(
        {
            (0, 1, OUTCOME_A): 3,
            (1, 0, OUTCOME_A): 2,
            (1, 2, OUTCOME_A): 4,
            (2, 1, OUTCOME_A): 1,
            (0, 2, OUTCOME_A): 3,
            (2, 0, OUTCOME_A): 1,
            (0, 2, OUTCOME_TIE): 1,
        },
        3,
    )
    fit = bradley_terry(counts)
    pairs = neighbour_fragility(counts, fit, max_votes=6)
    assert [(pair.upper, pair.lower) for pair in pairs] == [(0, 1), (1, 2)]
    assert [pair.votes for pair in pairs] == [1, 4]
    # 1 leads 2 by 178 points, too far for first order within 6 votes; refitting finds 4.
    assert [pair.estimate for pair in pairs] == [1, None]
    for pair in pairs:
        assert pair.votes == brute_force(counts, pair.upper, pair.lower, cap=5)
        assert pair.tight
        assert sum(votes for *_, votes in pair.removed) == pair.votes
        assert swapped(without(counts, pair.removed), pair.upper, pair.lower)


def test_every_reported_removal_swaps_and_one_vote_fewer_does_not():
    rng = np.random.default_rng(3)
    n = 8
    strength = np.linspace(0.8, -0.8, n)
    side_a = rng.integers(0, n, 3000)
    side_b = (side_a + rng.integers(1, n, 3000)) % n
    probability = 1 / (1 + np.exp(strength[side_b] - strength[side_a]))
    outcome = np.where(rng.random(3000) < 0.1, OUTCOME_TIE, np.where(rng.random(3000) < probability, 0, 1))
    counts = PairCounts.from_votes(side_a, side_b, outcome, n)
    fit = bradley_terry(counts)
    pairs = neighbour_fragility(counts, fit)
    assert [pair.upper for pair in pairs] + [pairs[-1].lower] == np.argsort(-fit.ratings).tolist()
    for pair in pairs:
        assert pair.votes is not None and pair.votes > 0 and pair.tight
        assert sum(votes for *_, votes in pair.removed) == pair.votes
        assert swapped(without(counts, pair.removed), pair.upper, pair.lower)
        *kept, (i, j, score, votes) = pair.removed
        fewer = [*kept, (i, j, score, votes - 1)]
        assert not swapped(without(counts, fewer), pair.upper, pair.lower)
        # First order overstates the votes needed here by up to a quarter (removing tens of one pair's).
        assert pair.estimate is not None and pair.votes <= pair.estimate <= 1.25 * pair.votes


def test_equal_ratings_need_no_vote_and_degenerate_boards():
    counts = counts_from({(0, 1, OUTCOME_TIE): 3, (1, 2, OUTCOME_TIE): 2}, 3)
    pairs = neighbour_fragility(counts, bradley_terry(counts))
    assert [(pair.votes, pair.estimate, pair.tight, pair.removed) for pair in pairs] == [(0, 0, True, ())] * 2
    for n in (0, 1):
        empty = PairCounts(np.zeros((n, n, 4), dtype=np.int64))
        assert neighbour_fragility(empty, bradley_terry(empty)) == []
    none = PairCounts(np.zeros((2, 2, 4), dtype=np.int64))
    assert [pair.votes for pair in neighbour_fragility(none, bradley_terry(none))] == [0]
    with pytest.raises(ValueError, match="max_votes"):
        neighbour_fragility(none, bradley_terry(none), max_votes=-1)


def test_separated_pair_is_found_by_refitting_where_first_order_fails():
    # 0 beat 1 five times and never lost: the gap rests on the ridge (thousands of points), first order
    # finds nothing to close it with, and removing all five wins (leaving no vote) ties them.
    counts = counts_from({(0, 1, OUTCOME_A): 5}, 2)
    fit = bradley_terry(counts)
    [pair] = neighbour_fragility(counts, fit)
    assert pair.gap > 1000
    assert (pair.votes, pair.estimate, pair.tight) == (5, None, True)
    assert swapped(without(counts, pair.removed), 0, 1)
