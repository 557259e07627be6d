"""The plain board is unchanged: on fixed counts, `ratings_compute` gives what the rating code of commit
5132353 gave (tests/ratings/data/plain_board_golden.json, which holds the counts and those results).

Three cases: 12 contenders with 20,000 votes spread evenly over the pairs, 40 contenders with 300,000
votes skewed towards popular contenders (as battles/management/seeding.py draws them), and 16
contenders on a ring of pairs with 900 votes, a third of them ties or both-bad (small and empty cells).

- Bradley-Terry and the sandwich: to 1e-6 rating points.
- The bootstrap (200 rounds), exact multinomial draws (what "auto" uses at this size): the same draws,
  each round refitted to the fit's tolerance, so the same intervals and ranks to 1e-6.
- The bootstrap in its Poisson form: the pairs without a small cell are drawn as before, so a board
  without small cells gets the same intervals to 1e-6; the small cells are drawn exactly from other
  random numbers (ratings/bootstrap.py), so the others agree within the Monte Carlo noise of 200
  rounds. The bounds are 1.5 times the largest differences between 20 seeds of that code.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ratings import algorithms, bootstrap
from ratings.algorithms import PairCounts
from tests.ratings.test_bradley_terry import round_tolerance_of

GOLDEN = json.loads((Path(__file__).parent / "data" / "plain_board_golden.json").read_text())
ROUNDS = GOLDEN["bootstrap_rounds"]
CASES = GOLDEN["cases"]
NAMES = [case["name"] for case in CASES]


def counts_of(case: dict[str, Any]) -> PairCounts:
    n = case["contenders"]
    return PairCounts(counts=np.array(case["counts"], dtype=np.int64).reshape(n, n, 4))


def golden(case: dict[str, Any], name: str) -> np.ndarray:
    return np.array(case[name], dtype=np.float64)


@pytest.mark.parametrize("case", CASES, ids=NAMES)
def test_ratings_sandwich_and_exact_bootstrap_are_unchanged(case: dict[str, Any]) -> None:
    result = algorithms.ratings_compute(counts_of(case), bootstrap_rounds=ROUNDS, seed=case["seed"])
    for name in ("ratings", "sandwich_low", "sandwich_high", "standard_errors"):
        assert getattr(result, name) == pytest.approx(golden(case, name), abs=1e-6), name
    assert list(result.flags) == case["flags"]
    assert result.bootstrap_resampling == case["bootstrap_resampling"] == "multinomial"
    assert result.bootstrap_low == pytest.approx(golden(case, "bootstrap_low"), abs=1e-6)
    assert result.bootstrap_high == pytest.approx(golden(case, "bootstrap_high"), abs=1e-6)
    assert result.ranks.tolist() == case["ranks"]
    assert result.converged
    assert result.bootstrap_gradient_norm <= round_tolerance_of(counts_of(case), result.fit)


@pytest.mark.parametrize("case", CASES, ids=NAMES)
def test_poisson_form_bootstrap_is_unchanged_within_monte_carlo_noise(case: dict[str, Any]) -> None:
    counts = counts_of(case)
    fit = algorithms.bradley_terry(counts)
    resampled = algorithms.bootstrap_intervals(
        counts, fit, rounds=ROUNDS, seed=case["seed"], resampling="poisson"
    )
    assert resampled.converged and resampled.gradient_norm <= round_tolerance_of(counts, fit)
    low, high = golden(case, "poisson_low"), golden(case, "poisson_high")
    cells = bootstrap.pair_table(counts).cells
    if not ((cells > 0) & (cells < bootstrap.EXACT_CELL_VOTES)).any():
        assert case["name"] == "uniform_12"  # the one case without small cells: the same draws
        assert resampled.low == pytest.approx(low, abs=1e-6)
        assert resampled.high == pytest.approx(high, abs=1e-6)
        return
    width = high - low
    moved = np.concatenate([np.abs(resampled.low - low), np.abs(resampled.high - high)]) / np.tile(width, 2)
    # Between seeds of the old code: mean 0.07 of a width at most, any one bound 0.27, widths 5%.
    assert moved.mean() <= 0.1
    assert moved.max() <= 0.4
    assert abs(((resampled.high - resampled.low) / width).mean() - 1) <= 0.08


def test_small_cells_are_drawn_from_the_exact_poisson_distribution() -> None:
    """Every count drawn exactly (1..EXACT_CELL_VOTES - 1): each value's frequency in 200,000 draws
    within 5 standard errors of its Poisson probability, values beyond the table's guide included."""
    counts = np.arange(1, bootstrap.EXACT_CELL_VOTES, dtype=np.int64)
    draws = bootstrap._poisson_small(np.random.default_rng(7), counts, 200_000)
    assert draws.dtype == np.int8 and draws.min() >= 0
    for column, mean in enumerate(counts):
        values = np.arange(int(draws[:, column].max()) + 1)
        log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, len(values))))])
        probability = np.exp(values * np.log(mean) - mean - log_factorial)
        frequency = np.bincount(draws[:, column], minlength=len(values)) / len(draws)
        error = np.sqrt(probability * (1 - probability) / len(draws))
        assert (np.abs(frequency - probability) <= 5 * error + 1e-5).all(), mean
