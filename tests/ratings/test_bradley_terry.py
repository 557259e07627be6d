"""Bradley-Terry on pair counts: construction, the fit against an independent one, both kinds of
intervals (including their coverage in simulation), degenerate data, determinism."""

import math

import numpy as np
import pytest
from scipy import optimize

from ratings import algorithms, bootstrap
from ratings.algorithms import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE, PairCounts

SCALE = 400 / math.log(10)


def simulate_votes(rng, true_ratings, votes):
    """Votes whose expected score for A is exactly the Bradley-Terry probability, ties included: a
    tie or both-bad (half a win each way) takes 40% of the weaker side's share, so the half-win
    estimator is consistent and the truth is what it estimates."""
    n = len(true_ratings)
    side_a = rng.integers(0, n, votes)
    side_b = (side_a + rng.integers(1, n, votes)) % n
    probability = 1 / (1 + 10 ** ((true_ratings[side_b] - true_ratings[side_a]) / 400))
    draw = 0.4 * np.minimum(probability, 1 - probability)
    uniform = rng.random(votes)
    outcome = np.select(
        [
            uniform < probability - draw / 2,
            uniform < 1 - draw,
            uniform < 1 - 0.3 * draw,
        ],
        [OUTCOME_A, OUTCOME_B, OUTCOME_TIE],
        default=OUTCOME_BOTH_BAD,
    )
    return side_a, side_b, outcome


def counts_of(votes, n):
    side_a, side_b, outcome = (np.array(column, dtype=np.int64) for column in zip(*votes, strict=True))
    return PairCounts.from_votes(side_a, side_b, outcome, n)


def assert_finite(result):
    for name in (
        "ratings",
        "bootstrap_low",
        "bootstrap_high",
        "sandwich_low",
        "sandwich_high",
        "standard_errors",
        "predicted_win_rates",
    ):
        assert np.isfinite(getattr(result, name)).all(), name
    assert (result.bootstrap_low <= result.bootstrap_high).all()
    assert (result.sandwich_low <= result.sandwich_high).all()
    assert math.isfinite(result.gradient_norm)


# --- pair counts ------------------------------------------------------------------------------------


HAND_MADE = [
    (0, 1, OUTCOME_A),  # 0 beats 1
    (1, 0, OUTCOME_B),  # 0 beats 1 again, from side B
    (1, 0, OUTCOME_A),  # 1 beats 0
    (0, 2, OUTCOME_TIE),
    (2, 0, OUTCOME_BOTH_BAD),
    (2, 1, OUTCOME_A),  # 2 beats 1
    (0, 1, OUTCOME_TIE),
]


def test_pair_counts_from_votes_exact_values():
    counts = counts_of(HAND_MADE, 4)
    assert counts.contender_count == 4
    assert counts.total == 7
    assert counts.counts.shape == (4, 4, 4)
    assert counts.counts[0, 1].tolist() == [1, 0, 1, 0]
    assert counts.counts[1, 0].tolist() == [1, 1, 0, 0]
    assert counts.counts[0, 2].tolist() == [0, 0, 1, 0]
    assert counts.counts[2, 0].tolist() == [0, 0, 0, 1]
    assert counts.counts[2, 1].tolist() == [1, 0, 0, 0]
    assert counts.counts.sum() == 7

    totals = counts.totals()
    assert totals.wins.tolist() == [2, 1, 1, 0]
    assert totals.losses.tolist() == [1, 3, 0, 0]
    assert totals.ties.tolist() == [2, 1, 1, 0]
    assert totals.both_bad.tolist() == [1, 0, 1, 0]
    assert totals.votes.tolist() == [6, 5, 3, 0]
    # The same totals as the per-vote function.
    per_vote = algorithms.outcome_totals(
        *(np.array(c) for c in zip(*HAND_MADE, strict=True)), contender_count=4
    )
    for name in ("wins", "losses", "ties", "both_bad"):
        assert getattr(per_vote, name).tolist() == getattr(totals, name).tolist()

    assert counts.battle_counts().tolist() == [[0, 4, 2, 0], [4, 0, 1, 0], [2, 1, 0, 0], [0, 0, 0, 0]]
    assert counts.wins_matrix().tolist() == [[0, 2, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert counts.draws_matrix().tolist() == [[0, 1, 2, 0], [1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]]
    assert counts.score_matrix().tolist() == [[0, 2.5, 1, 0], [1.5, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]

    rates = counts.win_rate_matrix()
    assert rates[0, 1] == 2 / 3
    assert rates[1, 0] == 1 / 3
    assert rates[2, 1] == 1.0
    assert rates[1, 2] == 0.0
    nan_cells = [(i, j) for i in range(4) for j in range(4) if math.isnan(rates[i, j])]
    # Diagonal, the tie-only pair 0-2, and everything with contender 3.
    assert nan_cells == [
        (0, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (1, 3),
        (2, 0),
        (2, 2),
        (2, 3),
        (3, 0),
        (3, 1),
        (3, 2),
        (3, 3),
    ]

    win_rates = totals.win_rate()
    assert win_rates[:3].tolist() == [2 / 3, 1 / 4, 1.0]
    assert math.isnan(win_rates[3])


def test_pair_counts_are_a_read_only_copy():
    source = np.zeros((2, 2, 4), dtype=np.int64)
    source[0, 1, OUTCOME_A] = 3
    counts = PairCounts(counts=source)
    source[0, 1, OUTCOME_A] = 5
    assert counts.total == 3
    with pytest.raises(ValueError, match="read-only"):
        counts.counts[0, 1, OUTCOME_A] = 9


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ([(0, 3, OUTCOME_A)], "vote 0: side_b is 3, outside 0..2"),
        ([(0, 1, OUTCOME_A), (-1, 1, OUTCOME_A)], "vote 1: side_a is -1, outside 0..2"),
        ([(0, 1, 4)], "vote 0: outcome is 4, outside 0..3"),
        ([(0, 1, OUTCOME_A), (2, 2, OUTCOME_B)], "vote 1: contender 2 is on both sides"),
    ],
)
def test_from_votes_rejects_bad_votes(votes, message):
    with pytest.raises(ValueError, match=message):
        counts_of(votes, 3)


def test_from_votes_rejects_columns_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        PairCounts.from_votes(np.array([0, 1]), np.array([1]), np.array([0, 0]), 2)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3, 4)), "shape"),
        (np.zeros((2, 2, 3)), "shape"),
        (-np.ones((2, 2, 4)) + np.eye(2)[:, :, None], "negative"),
        (np.ones((2, 2, 4)), "diagonal"),
    ],
)
def test_pair_counts_reject_bad_arrays(array, message):
    with pytest.raises(ValueError, match=message):
        PairCounts(counts=array.astype(np.int64))


# --- the fit ------------------------------------------------------------------------------------------


def scipy_ratings(side_a, side_b, outcome, n):
    """An independent fit: scipy's BFGS on the negative log-likelihood written one row per vote, a tie
    or both-bad being half a win each way (per vote, which keeps BFGS's line search precise). Returns
    centred ratings on the Elo scale, mean 1000."""
    score = algorithms.score_of_outcome(outcome)
    votes = len(score)

    def negative_log_likelihood(theta):
        difference = theta[side_a] - theta[side_b]
        value = (score * np.logaddexp(0, -difference) + (1 - score) * np.logaddexp(0, difference)).sum()
        residual = score - 1 / (1 + np.exp(-difference))
        gradient = -(np.bincount(side_a, residual, n) - np.bincount(side_b, residual, n))
        return value / votes, gradient / votes

    solution = optimize.minimize(
        negative_log_likelihood, np.zeros(n), jac=True, method="BFGS", options={"gtol": 1e-12}
    )
    # Stopped by rounding, far below what matters: a gradient of 1e-4 votes moves a rating by ~1e-5 points.
    assert np.abs(solution.jac).max() * votes < 1e-4
    ratings = SCALE * solution.x
    return ratings - ratings.mean() + 1000


def test_agrees_with_scipy_on_one_row_per_vote():
    rng = np.random.default_rng(20240801)
    truth = np.array([-250.0, -120.0, -40.0, 0.0, 35.0, 90.0, 160.0, 300.0])
    side_a, side_b, outcome = simulate_votes(rng, truth, 20_000)
    counts = PairCounts.from_votes(side_a, side_b, outcome, 8)
    fit = algorithms.bradley_terry(counts)
    expected = scipy_ratings(side_a, side_b, outcome, 8)
    assert np.abs(fit.ratings - expected).max() < 0.01
    assert fit.converged
    assert fit.gradient_norm <= 1e-10
    assert fit.iterations >= 2
    assert fit.flags == ()
    assert fit.ratings.mean() == pytest.approx(1000, abs=1e-9)
    # And the ratings are near the truth the data came from.
    assert np.abs(fit.ratings - (truth - truth.mean() + 1000)).max() < 25


def test_gradient_is_zero_at_the_fit_by_an_independent_formula():
    rng = np.random.default_rng(7)
    side_a, side_b, outcome = simulate_votes(rng, np.array([0.0, 80.0, 200.0, -60.0, 10.0]), 5000)
    counts = PairCounts.from_votes(side_a, side_b, outcome, 5)
    fit = algorithms.bradley_terry(counts)
    theta = fit.log_strengths
    score = algorithms.score_of_outcome(outcome)
    residual = score - 1 / (1 + np.exp(-(theta[side_a] - theta[side_b])))
    gradient = np.bincount(side_a, residual, 5) - np.bincount(side_b, residual, 5) - fit.ridge * theta
    assert np.linalg.norm(gradient) < 1e-9
    # The ridge centres the log-strengths, to within rounding noise / ridge along that direction.
    assert abs(theta.mean()) < 1e-3


def test_anchor_pins_one_contender_and_keeps_the_differences():
    rng = np.random.default_rng(3)
    side_a, side_b, outcome = simulate_votes(rng, np.array([0.0, 100.0, -50.0, 30.0]), 4000)
    counts = PairCounts.from_votes(side_a, side_b, outcome, 4)
    centred = algorithms.ratings_compute(counts, bootstrap_rounds=200, seed=1)
    anchored = algorithms.ratings_compute(
        counts, bootstrap_rounds=200, seed=1, anchor_index=2, anchor_rating=1114.0
    )
    assert anchored.ratings[2] == 1114.0
    assert anchored.ratings - anchored.ratings[2] == pytest.approx(
        centred.ratings - centred.ratings[2], abs=1e-9
    )
    # The anchor is known exactly on its own scale; the others carry the uncertainty of the gap.
    assert anchored.bootstrap_low[2] == anchored.bootstrap_high[2] == 1114.0
    assert anchored.sandwich_low[2] == pytest.approx(1114.0, abs=1e-9)
    assert anchored.sandwich_high[2] == pytest.approx(1114.0, abs=1e-9)
    assert (anchored.sandwich_high - anchored.sandwich_low)[[0, 1, 3]].min() > 0
    with pytest.raises(ValueError, match="anchor_index 4"):
        algorithms.bradley_terry(counts, anchor_index=4)


def test_predicted_win_probabilities():
    probabilities = algorithms.predicted_win_probabilities(np.array([1000.0, 1400.0, 1000.0]))
    assert probabilities[1, 0] == pytest.approx(10 / 11)
    assert probabilities[0, 1] == pytest.approx(1 / 11)
    assert probabilities[0, 2] == 0.5
    assert np.diag(probabilities).tolist() == [0.5, 0.5, 0.5]
    assert probabilities + probabilities.T == pytest.approx(np.ones((3, 3)))


def test_predicted_matches_the_fitted_model():
    rng = np.random.default_rng(5)
    side_a, side_b, outcome = simulate_votes(rng, np.array([0.0, 120.0, -80.0]), 3000)
    counts = PairCounts.from_votes(side_a, side_b, outcome, 3)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=50)
    theta = algorithms.bradley_terry(counts).log_strengths
    expected = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))
    assert result.predicted_win_rates == pytest.approx(expected, abs=1e-12)


def test_ranks_from_intervals_as_chatbot_arena():
    low = np.array([1200.0, 1150.0, 1000.0, 990.0])
    high = np.array([1250.0, 1210.0, 1100.0, 1005.0])
    # 0: nobody's lower bound above 1250; 1: nobody above 1210 (1200 is not);
    # 2: 1200 and 1150 are above 1100; 3: 1200, 1150 are above 1005 (1000 is not).
    assert algorithms.ranks_from_intervals(low, high).tolist() == [1, 1, 3, 3]


# --- intervals ----------------------------------------------------------------------------------------


def test_sandwich_matches_an_independent_per_vote_computation():
    rng = np.random.default_rng(11)
    n = 5
    side_a, side_b, outcome = simulate_votes(rng, np.array([0.0, 60.0, 150.0, -90.0, 20.0]), 4000)
    counts = PairCounts.from_votes(side_a, side_b, outcome, n)
    fit = algorithms.bradley_terry(counts)
    sandwich = algorithms.sandwich_intervals(counts, fit)

    theta = fit.log_strengths
    probability = 1 / (1 + np.exp(-(theta[side_a] - theta[side_b])))
    design = np.zeros((len(side_a), n))
    design[np.arange(len(side_a)), side_a] = 1
    design[np.arange(len(side_a)), side_b] = -1
    scores = (algorithms.score_of_outcome(outcome) - probability)[:, None] * design  # one row per vote
    meat = scores.T @ scores
    bread = design.T @ (design * (probability * (1 - probability))[:, None])
    # Identified by pinning the last contender (every identification gives the same centred covariance;
    # a pseudo-inverse of the singular bread would lose digits to its numerically-zero eigenvalue).
    inverse = np.zeros((n, n))
    inverse[:-1, :-1] = np.linalg.inv(bread[:-1, :-1])
    centre = np.eye(n) - 1 / n
    covariance = centre @ inverse @ meat @ inverse @ centre * SCALE**2
    errors = np.sqrt(np.diag(covariance))
    assert sandwich.standard_errors == pytest.approx(errors, rel=1e-6)
    assert sandwich.high - fit.ratings == pytest.approx(1.959964 * errors, rel=1e-6)
    assert fit.ratings - sandwich.low == pytest.approx(1.959964 * errors, rel=1e-6)


def coverage(trials, contenders_truth, votes, bootstrap_rounds, resampling):
    rng = np.random.default_rng(2024)
    truth = contenders_truth - contenders_truth.mean() + 1000
    covered_bootstrap = covered_sandwich = 0
    for trial in range(trials):
        side_a, side_b, outcome = simulate_votes(rng, contenders_truth, votes)
        counts = PairCounts.from_votes(side_a, side_b, outcome, len(truth))
        fit = algorithms.bradley_terry(counts)
        sandwich = algorithms.sandwich_intervals(counts, fit)
        resampled = algorithms.bootstrap_intervals(
            counts, fit, rounds=bootstrap_rounds, seed=trial, resampling=resampling
        )
        assert resampled.resampling == resampling
        covered_bootstrap += ((resampled.low <= truth) & (truth <= resampled.high)).sum()
        covered_sandwich += ((sandwich.low <= truth) & (truth <= sandwich.high)).sum()
    checks = trials * len(truth)
    return covered_bootstrap / checks, covered_sandwich / checks


def test_both_intervals_cover_the_truth_95_percent_of_the_time():
    """300 trials x 6 contenders = 1,800 checks per method (the standard error of a 95% coverage
    estimate is then 0.5 points); 3,000 votes per trial with ties and both-bad; 1,000 bootstrap rounds
    (exact multinomial resampling at this size). Centred ratings against the centred truth."""
    truth = np.array([-150.0, -80.0, -20.0, 30.0, 90.0, 130.0])
    bootstrap_coverage, sandwich_coverage = coverage(300, truth, 3000, 1000, "multinomial")
    print(f"coverage: bootstrap {bootstrap_coverage:.4f}, sandwich {sandwich_coverage:.4f}")
    assert 0.93 <= bootstrap_coverage <= 0.97
    assert 0.93 <= sandwich_coverage <= 0.97


def test_poisson_resampling_covers_the_truth_too():
    """The Poisson form the bootstrap switches to on large data, forced here (200 trials x 6 contenders,
    500 rounds)."""
    truth = np.array([-150.0, -80.0, -20.0, 30.0, 90.0, 130.0])
    bootstrap_coverage, _ = coverage(200, truth, 3000, 500, "poisson")
    print(f"coverage: bootstrap (poisson resampling) {bootstrap_coverage:.4f}")
    assert 0.93 <= bootstrap_coverage <= 0.97


@pytest.mark.parametrize(
    ("contenders", "votes"),
    [
        (10, 60_000),  # pairs of ~1,300 votes: nearly every cell from the normal limit
        (60, 8_000),  # pairs of ~4 votes: nearly every cell drawn exactly
    ],
)
def test_poisson_and_multinomial_resampling_give_the_same_intervals(contenders, votes):
    rng = np.random.default_rng(17)
    counts = PairCounts.from_votes(
        *simulate_votes(rng, np.linspace(-300, 300, contenders), votes), contenders
    )
    fit = algorithms.bradley_terry(counts)
    exact = algorithms.bootstrap_intervals(counts, fit, rounds=3000, seed=1, resampling="multinomial")
    poisson = algorithms.bootstrap_intervals(counts, fit, rounds=3000, seed=2, resampling="poisson")
    # Two exact runs with different seeds differ by up to ~0.05 of a width and ~4% in spread.
    width = exact.high - exact.low
    assert (np.abs(poisson.low - exact.low) / width).max() < 0.08
    assert (np.abs(poisson.high - exact.high) / width).max() < 0.08
    assert np.abs(poisson.round_ratings.std(axis=0) / exact.round_ratings.std(axis=0) - 1).max() < 0.07


def test_auto_resampling_switches_to_poisson_on_large_tables():
    rng = np.random.default_rng(4)
    counts = PairCounts.from_votes(*simulate_votes(rng, np.zeros(5), 500), 5)
    fit = algorithms.bradley_terry(counts)
    assert algorithms.bootstrap_intervals(counts, fit, rounds=100).resampling == "multinomial"
    draws = 100 * 30  # 10 pairs x 3 cells x 100 rounds
    at_limit = algorithms.bootstrap_intervals(counts, fit, rounds=100, exact_draw_limit=draws)
    assert at_limit.resampling == "multinomial"
    over_limit = algorithms.bootstrap_intervals(counts, fit, rounds=100, exact_draw_limit=draws - 1)
    assert over_limit.resampling == "poisson"


def test_vectorised_bootstrap_equals_a_loop_of_single_fits():
    rng = np.random.default_rng(9)
    counts = PairCounts.from_votes(*simulate_votes(rng, np.array([0.0, 50.0, -40.0, 120.0, 10.0]), 800), 5)
    fit = algorithms.bradley_terry(counts)
    for resampling in ("multinomial", "poisson"):
        resampled = algorithms.bootstrap_intervals(counts, fit, rounds=40, seed=8, resampling=resampling)
        draws = bootstrap.bootstrap_resamples(counts, rounds=40, seed=8, resampling=resampling)
        battles, scores = bootstrap.dense_pairs(draws.table, draws.battles, draws.scores)
        for round_index in range(40):
            single = bootstrap.newton_fit(
                np.zeros((1, 5)),
                battles[round_index : round_index + 1],
                scores[round_index : round_index + 1],
                ridge=fit.ridge,
                tolerance=fit.tolerance,
            )
            ratings = algorithms.ratings_from_log_strengths(
                single.log_strengths[0], anchor_index=None, anchor_rating=1000
            )
            assert resampled.round_ratings[round_index] == pytest.approx(ratings, abs=1e-6)
        low, high = np.percentile(resampled.round_ratings, [2.5, 97.5], axis=0)
        assert resampled.low.tolist() == low.tolist()
        assert resampled.high.tolist() == high.tolist()
        assert fit.tolerance < resampled.gradient_norm <= round_tolerance_of(counts, fit)


def test_multinomial_resamples_keep_the_total_and_the_pairs():
    rng = np.random.default_rng(10)
    counts = PairCounts.from_votes(*simulate_votes(rng, np.zeros(4), 300), 4)
    draws = bootstrap.bootstrap_resamples(counts, rounds=25, seed=2, resampling="multinomial")
    assert draws.battles.sum(axis=1).tolist() == [300.0] * 25
    assert (draws.scores <= draws.battles).all()
    assert (draws.scores * 2 == np.round(draws.scores * 2)).all()
    assert not (draws.battles == draws.battles[0]).all()


def test_poisson_resampling_draws_small_cells_exactly():
    # Pair 0-1: cells of 600, 400 and 0 votes, from the normal limit (the empty cell stays empty).
    # Pair 1-2: cells of 8 wins by 1 and 4 ties, under EXACT_CELL_VOTES: exact Poisson draws.
    votes = (
        [(0, 1, OUTCOME_A)] * 600
        + [(1, 0, OUTCOME_A)] * 400
        + [(1, 2, OUTCOME_A)] * 8
        + [(2, 1, OUTCOME_TIE)] * 4
    )
    draws = bootstrap.bootstrap_resamples(counts_of(votes, 3), rounds=2000, seed=3, resampling="poisson")
    assert draws.table.first.tolist() == [0, 1]
    assert draws.table.second.tolist() == [1, 2]
    small_battles, small_scores = draws.battles[:, 1], draws.scores[:, 1]
    large_battles, large_scores = draws.battles[:, 0], draws.scores[:, 0]
    assert (small_battles == np.round(small_battles)).all()
    assert (small_scores * 2 == np.round(small_scores * 2)).all()
    assert (small_scores <= small_battles).all()
    assert not (large_battles == np.round(large_battles)).all()
    # Poisson moments: battles 12 (variance 12), score 8 + 4/2 (variance 8 + 4/4).
    assert small_battles.mean() == pytest.approx(12, abs=0.3)
    assert small_battles.var() == pytest.approx(12, rel=0.1)
    assert small_scores.var() == pytest.approx(9, rel=0.1)
    assert large_battles.mean() == pytest.approx(1000, abs=2)
    assert large_battles.var() == pytest.approx(1000, rel=0.1)
    assert large_scores.var() == pytest.approx(600, rel=0.1)


def test_same_seed_same_results_other_seed_other_intervals():
    rng = np.random.default_rng(12)
    counts = PairCounts.from_votes(*simulate_votes(rng, np.array([0.0, 40.0, 80.0, -30.0]), 2000), 4)
    first = algorithms.ratings_compute(counts, bootstrap_rounds=300, seed=5)
    second = algorithms.ratings_compute(counts, bootstrap_rounds=300, seed=5)
    for name in ("ratings", "bootstrap_low", "bootstrap_high", "sandwich_low", "sandwich_high", "ranks"):
        assert getattr(first, name).tolist() == getattr(second, name).tolist()
    other = algorithms.ratings_compute(counts, bootstrap_rounds=300, seed=6)
    assert other.ratings.tolist() == first.ratings.tolist()
    assert other.bootstrap_low.tolist() != first.bootstrap_low.tolist()


def test_bootstrap_does_not_depend_on_the_number_of_threads():
    chunk_cells = 250  # 10 rounds per chunk for 5 contenders
    rng = np.random.default_rng(14)
    counts = PairCounts.from_votes(*simulate_votes(rng, np.array([0.0, 70.0, -30.0, 20.0, 140.0]), 1500), 5)
    fit = algorithms.bradley_terry(counts)
    runs = [
        bootstrap.bootstrap_rounds(
            counts,
            fit.log_strengths,
            rounds=45,
            seed=4,
            ridge=fit.ridge,
            tolerance=fit.tolerance,
            chunk_cells=chunk_cells,
            workers=workers,
        )
        for workers in (1, 3)
    ]
    sizes = bootstrap.chunk_sizes(bootstrap.pair_table(counts), 45, chunk_cells=chunk_cells)
    assert sizes == [10, 10, 10, 10, 5]
    assert runs[0][0].log_strengths.tolist() == runs[1][0].log_strengths.tolist()
    assert runs[0][0].iterations.tolist() == runs[1][0].iterations.tolist()
    assert len(np.unique(runs[0][0].log_strengths[:, 0])) == 45  # every round its own resample


def test_ratings_compute_returns_everything_a_snapshot_stores():
    counts = counts_of(HAND_MADE * 5 + [(3, 0, OUTCOME_A), (1, 3, OUTCOME_A)] * 3, 4)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=100)
    assert_finite(result)
    assert result.ratings.shape == (4,)
    assert result.battle_counts.tolist() == counts.battle_counts().tolist()
    assert np.array_equal(result.win_rate_matrix, counts.win_rate_matrix(), equal_nan=True)
    assert result.totals.wins.tolist() == counts.totals().wins.tolist()
    assert (
        result.ranks.tolist()
        == algorithms.ranks_from_intervals(result.bootstrap_low, result.bootstrap_high).tolist()
    )
    assert result.bootstrap_resampling == "multinomial"
    assert result.converged
    assert result.iterations >= 1
    assert result.gradient_norm <= 1e-10
    assert result.bootstrap_gradient_norm <= round_tolerance_of(counts, algorithms.bradley_terry(counts))
    with pytest.raises(ValueError, match="at least 1"):
        algorithms.bootstrap_intervals(counts, algorithms.bradley_terry(counts), rounds=0)
    # No bootstrap rounds: the sandwich intervals are the intervals, and the ranks follow them.
    sandwich_only = algorithms.ratings_compute(counts, bootstrap_rounds=0)
    assert sandwich_only.bootstrap_resampling == "none"
    assert sandwich_only.bootstrap_low.tolist() == sandwich_only.sandwich_low.tolist()
    assert sandwich_only.bootstrap_high.tolist() == sandwich_only.sandwich_high.tolist()
    assert (
        sandwich_only.ranks.tolist()
        == algorithms.ranks_from_intervals(sandwich_only.sandwich_low, sandwich_only.sandwich_high).tolist()
    )
    with pytest.raises(ValueError, match="resampling"):
        algorithms.bootstrap_intervals(counts, algorithms.bradley_terry(counts), resampling="jackknife")


# --- degenerate data ----------------------------------------------------------------------------------


def test_undefeated_contender_is_finite_and_flagged():
    counts = counts_of([(0, 1, OUTCOME_A), (2, 0, OUTCOME_B), (1, 2, OUTCOME_A), (2, 1, OUTCOME_A)] * 3, 3)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    assert_finite(result)
    assert "undefeated" in result.flags
    assert "separated" in result.flags
    assert "winless" not in result.flags
    assert result.ratings[0] > result.ratings[1] + 500  # far ahead: only the ridge holds it back
    assert result.ratings[0] < 1000 + 20 * 400  # but finite and not absurd
    assert result.converged


def test_winless_contender_is_finite_and_flagged():
    counts = counts_of([(0, 2, OUTCOME_A), (2, 1, OUTCOME_B), (0, 1, OUTCOME_A), (1, 0, OUTCOME_A)] * 3, 3)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    assert_finite(result)
    assert "winless" in result.flags
    assert "separated" in result.flags
    assert result.ratings[2] == result.ratings.min()


def test_a_tie_keeps_the_estimate_from_separating():
    counts = counts_of([(0, 1, OUTCOME_A), (0, 1, OUTCOME_A), (1, 0, OUTCOME_TIE)], 2)
    fit = algorithms.bradley_terry(counts)
    assert fit.flags == ("undefeated", "winless")  # but not "separated"
    # Score 2.5 of 3: P = 5/6, a gap of ln 5 in natural-log units (less a ridge shift of ~3e-4 points,
    # ridge * theta / curvature, visible only because three votes give so little curvature).
    assert fit.ratings[0] - fit.ratings[1] == pytest.approx(SCALE * math.log(5), abs=1e-3)


def test_disconnected_groups_are_finite_deterministic_and_flagged():
    votes = [
        (0, 1, OUTCOME_A),
        (1, 0, OUTCOME_B),
        (1, 0, OUTCOME_A),
        (2, 3, OUTCOME_A),
        (3, 2, OUTCOME_TIE),
    ] * 4
    counts = counts_of(votes, 4)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    again = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    assert_finite(result)
    assert "disconnected" in result.flags
    assert result.component.tolist() == [0, 0, 1, 1]
    assert result.ratings.tolist() == again.ratings.tolist()
    assert result.bootstrap_low.tolist() == again.bootstrap_low.tolist()
    # The ridge puts each group's mean at the common mean.
    assert result.ratings[:2].mean() == pytest.approx(1000, abs=1e-6)
    assert result.ratings[2:].mean() == pytest.approx(1000, abs=1e-6)
    # Inside each group, the gaps are the data's: 0 won 8 of 12 against 1, 2 scored 6 of 8 against 3.
    assert result.ratings[0] - result.ratings[1] == pytest.approx(SCALE * math.log(2), abs=1e-3)
    assert result.ratings[2] - result.ratings[3] == pytest.approx(SCALE * math.log(3), abs=1e-3)


def test_single_contender():
    counts = PairCounts(counts=np.zeros((1, 1, 4), dtype=np.int64))
    result = algorithms.ratings_compute(counts, anchor_rating=1200.0)
    assert result.flags == ("single_contender",)
    for name in ("ratings", "bootstrap_low", "bootstrap_high", "sandwich_low", "sandwich_high"):
        assert getattr(result, name).tolist() == [1200.0]
    assert result.ranks.tolist() == [1]
    assert result.predicted_win_rates.tolist() == [[0.5]]
    assert result.battle_counts.tolist() == [[0]]


def test_zero_contenders_give_empty_arrays():
    result = algorithms.ratings_compute(PairCounts(counts=np.zeros((0, 0, 4), dtype=np.int64)))
    assert result.flags == ("no_contenders",)
    for name in ("ratings", "bootstrap_low", "bootstrap_high", "sandwich_low", "sandwich_high", "ranks"):
        assert getattr(result, name).shape == (0,)
    assert result.battle_counts.shape == (0, 0)
    assert result.predicted_win_rates.shape == (0, 0)


def test_no_votes_at_all():
    result = algorithms.ratings_compute(PairCounts(counts=np.zeros((3, 3, 4), dtype=np.int64)))
    assert result.flags == ("no_votes",)
    assert_finite(result)
    assert result.ratings.tolist() == [1000.0] * 3
    assert result.bootstrap_low.tolist() == result.bootstrap_high.tolist() == [1000.0] * 3
    assert result.ranks.tolist() == [1, 1, 1]
    assert result.bootstrap_resampling == "none"


def test_only_ties_rate_everyone_equal():
    counts = counts_of([(0, 1, OUTCOME_TIE), (1, 2, OUTCOME_BOTH_BAD), (2, 0, OUTCOME_TIE)] * 5, 3)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    assert result.flags == ("only_ties",)
    assert_finite(result)
    assert result.ratings.tolist() == [1000.0] * 3
    assert result.bootstrap_low.tolist() == result.bootstrap_high.tolist() == [1000.0] * 3
    assert result.ranks.tolist() == [1, 1, 1]
    assert np.isnan(result.win_rates).all()
    assert np.isnan(result.win_rate_matrix).all()


def test_contender_without_votes_is_unrated():
    counts = counts_of([(0, 1, OUTCOME_A), (1, 0, OUTCOME_A), (0, 1, OUTCOME_TIE)], 3)
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200)
    assert result.flags == ("unrated",)
    assert_finite(result)
    assert result.ratings[2] == pytest.approx(1000, abs=1e-9)


def test_vast_counts_still_converge():
    counts = np.zeros((3, 3, 4), dtype=np.int64)
    counts[0, 1, OUTCOME_A], counts[0, 1, OUTCOME_B] = 4_000_000, 1_000_000
    counts[1, 2, OUTCOME_A], counts[1, 2, OUTCOME_B] = 3_000_000, 3_000_000
    counts[2, 0, OUTCOME_TIE] = 2_000_000
    fit = algorithms.bradley_terry(PairCounts(counts=counts))
    # 1e-10 is below float64 rounding here (gradient terms of millions of votes): the fit stops once
    # its gradient stops falling within the rounding floor, and counts as converged.
    assert fit.converged
    assert fit.flags == ()
    assert (
        1e-10
        < fit.gradient_norm
        <= bootstrap.ROUNDING_FLOOR_PER_VOTE
        * np.linalg.norm(PairCounts(counts=counts).battle_counts().sum(axis=1))
    )
    # Bradley-Terry ignores the scale of the counts: a thousandth of them gives the same ratings.
    small = algorithms.bradley_terry(PairCounts(counts=counts // 1000))
    assert small.gradient_norm <= 1e-10
    assert fit.ratings == pytest.approx(small.ratings, abs=1e-6)


def round_tolerance_of(counts: PairCounts, fit: algorithms.BradleyTerryFit) -> float:
    """The gradient norm the bootstrap's rounds stop at for these counts (ratings/bootstrap.py)."""
    table = bootstrap.pair_table(counts)
    observed, _ = bootstrap.dense_pairs(table, table.battles[None].astype(np.float64), table.scores[None])
    hessian = bootstrap.negative_hessian(fit.log_strengths[None], observed, ridge=fit.ridge)[0]
    return bootstrap.round_tolerance(hessian, ridge=fit.ridge, tolerance=fit.tolerance)


def test_a_round_stops_when_its_ratings_are_within_the_round_error_of_their_optimum():
    # Curvatures 1e-6 (the mean direction: the ridge's alone), 4 and 50: the smallest above the
    # ridge's sets the tolerance; a tolerance above that stays.
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    hessian = basis @ np.diag([1e-6, 4.0, 50.0]) @ basis.T
    assert bootstrap.round_tolerance(hessian, ridge=1e-6, tolerance=1e-10) == pytest.approx(
        4.0 * bootstrap.ROUND_ERROR
    )
    assert bootstrap.round_tolerance(hessian, ridge=1e-6, tolerance=1e-3) == 1e-3
    # Only ridge curvature (no votes): the fit's tolerance.
    assert bootstrap.round_tolerance(np.eye(3) * 1e-6, ridge=1e-6, tolerance=1e-10) == 1e-10
