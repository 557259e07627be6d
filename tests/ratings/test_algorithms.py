import math

import numpy as np
import pytest

from ratings import algorithms


def reference_elo(battles, count, k=4.0, initial=1000.0):
    """Chatbot Arena's compute_online_elo, written out plainly."""
    rating = [initial] * count
    for a, b, score in battles:
        expected_a = 1 / (1 + 10 ** ((rating[b] - rating[a]) / 400))
        expected_b = 1 / (1 + 10 ** ((rating[a] - rating[b]) / 400))
        rating[a] += k * (score - expected_a)
        rating[b] += k * ((1 - score) - expected_b)
    return rating


def test_first_win_moves_both_by_half_k():
    elo = algorithms.online_elo(np.array([0]), np.array([1]), np.array([1.0]), contender_count=2)
    assert elo.tolist() == [1002.0, 998.0]


def test_tie_between_equals_changes_nothing():
    elo = algorithms.online_elo(np.array([0]), np.array([1]), np.array([0.5]), contender_count=2)
    assert elo.tolist() == [1000.0, 1000.0]


def test_matches_reference_in_time_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 500)
    b = (a + rng.integers(1, 5, 500)) % 5
    score = rng.choice([0.0, 0.5, 1.0], 500)
    elo = algorithms.online_elo(a, b, score, contender_count=5)
    expected = reference_elo(zip(a.tolist(), b.tolist(), score.tolist(), strict=True), 5)
    assert elo.tolist() == pytest.approx(expected, abs=1e-9)
    # Order matters: the same battles reversed give other ratings.
    reversed_elo = algorithms.online_elo(a[::-1], b[::-1], score[::-1], contender_count=5)
    assert not np.allclose(elo, reversed_elo)
    assert math.isclose(elo.sum(), 5000.0)


def test_outcome_totals_and_win_rate_exclude_ties():
    a = np.array([0, 0, 1, 2, 0])
    b = np.array([1, 2, 2, 0, 1])
    outcome = np.array(
        [
            algorithms.OUTCOME_A,
            algorithms.OUTCOME_B,
            algorithms.OUTCOME_TIE,
            algorithms.OUTCOME_BOTH_BAD,
            algorithms.OUTCOME_A,
        ]
    )
    totals = algorithms.outcome_totals(a, b, outcome, contender_count=4)
    assert totals.wins.tolist() == [2, 0, 1, 0]
    assert totals.losses.tolist() == [1, 2, 0, 0]
    assert totals.ties.tolist() == [0, 1, 1, 0]
    assert totals.both_bad.tolist() == [1, 0, 1, 0]
    assert totals.votes.tolist() == [4, 3, 3, 0]
    rate = totals.win_rate()
    assert rate[:3].tolist() == [2 / 3, 0.0, 1.0]
    assert math.isnan(rate[3])


def test_score_of_outcome():
    outcome = np.array(
        [algorithms.OUTCOME_A, algorithms.OUTCOME_B, algorithms.OUTCOME_TIE, algorithms.OUTCOME_BOTH_BAD]
    )
    assert algorithms.score_of_outcome(outcome).tolist() == [1.0, 0.0, 0.5, 0.5]
