"""95% intervals of the Bradley-Terry ratings (the sandwich and the bootstrap), the ranks they give, and
predicted win probabilities. numpy only, no Django; the method is described in ratings/algorithms.py."""

from dataclasses import dataclass

import numpy as np

from ratings import bootstrap
from ratings.bootstrap import FloatArray, IntArray, negative_hessian, win_probabilities
from ratings.bradley_terry import (
    ELO_BASE,
    ELO_SCALE,
    RATING_PER_LOG_STRENGTH,
    BradleyTerryFit,
    PairCounts,
    ratings_from_log_strengths,
)

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Intervals:
    low: FloatArray
    high: FloatArray


@dataclass(frozen=True)
class SandwichIntervals(Intervals):
    standard_errors: FloatArray  # rating points
    covariance: FloatArray  # of the ratings, in rating points squared, on the identified scale


def identification_matrix(n: int, anchor_index: int | None) -> FloatArray:
    """The linear map from log-strengths to their identified version: centred, or minus the anchor's."""
    if anchor_index is None:
        return np.eye(n) - np.full((n, n), 1.0 / max(n, 1))
    matrix = np.eye(n)
    matrix[:, anchor_index] -= 1.0
    return matrix


def sandwich_intervals(counts: PairCounts, fit: BradleyTerryFit) -> SandwichIntervals:
    """95% intervals from the robust covariance H^-1 M H^-1 (module docstring), carried to the identified
    ratings (centred, or relative to the anchor) by the delta method: rating ± 1.96 standard errors."""
    n = counts.contender_count
    theta = fit.log_strengths
    probability, complement = win_probabilities(theta[None])
    probability, complement = probability[0], complement[0]
    wins = counts.wins_matrix().astype(np.float64)
    draws = counts.draws_matrix().astype(np.float64)
    # One vote of i against j moves the gradient by (y - p_ij)(e_i - e_j), y = 1, 0 or ½ for i.
    meat_weight = wins * complement**2 + wins.T * probability**2 + draws * (0.5 - probability) ** 2
    meat = np.diag(meat_weight.sum(axis=1)) - meat_weight
    battles = counts.battle_counts().astype(np.float64)
    bread = negative_hessian(theta[None], battles[None], ridge=fit.ridge)[0]
    # Each group's mean direction has curvature `ridge` alone, which makes inverting the bread lose
    # every digit. The meat is zero along those directions, so any curvature there gives the same
    # covariance: use the bread's typical scale instead.
    groups = (fit.component[:, None] == fit.component[None, :]) / np.bincount(fit.component)[fit.component]
    bread_inverse = np.linalg.inv(bread + max(1.0, float(np.diag(bread).mean()) if n else 1.0) * groups)
    identify = RATING_PER_LOG_STRENGTH * identification_matrix(n, fit.anchor_index)
    covariance = identify @ bread_inverse @ meat @ bread_inverse @ identify.T
    covariance = 0.5 * (covariance + covariance.T)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return SandwichIntervals(
        low=fit.ratings - Z_95 * errors,
        high=fit.ratings + Z_95 * errors,
        standard_errors=errors,
        covariance=covariance,
    )


def ranks_from_intervals(low: FloatArray, high: FloatArray) -> IntArray:
    """Chatbot Arena's rank: 1 + the number of contenders whose lower bound is above my upper bound."""
    return 1 + (np.asarray(low)[None, :] > np.asarray(high)[:, None]).sum(axis=1).astype(np.int64)


def predicted_win_probabilities(ratings: FloatArray) -> FloatArray:
    """[i, j] = P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400)); ½ on the diagonal."""
    ratings = np.asarray(ratings, dtype=np.float64)
    exponent = (ratings[None, :] - ratings[:, None]) / ELO_SCALE
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + ELO_BASE**exponent)


@dataclass(frozen=True)
class BootstrapIntervals(Intervals):
    round_ratings: FloatArray  # (rounds, n), on the fit's scale (centred or anchored)
    resampling: str  # "multinomial", "poisson", or "none" when there is nothing to resample
    iterations: int  # the most any round needed
    gradient_norm: float  # the largest final gradient norm of any round
    converged: bool


def bootstrap_intervals(
    counts: PairCounts,
    fit: BradleyTerryFit,
    *,
    rounds: int = 1000,
    seed: int = 0,
    resampling: bootstrap.Resampling = "auto",
    exact_draw_limit: int = bootstrap.EXACT_DRAW_LIMIT,
) -> BootstrapIntervals:
    """95% percentile intervals (2.5th, 97.5th) of the ratings refitted on `rounds` resamples of the
    pair counts (multinomial, or its Poisson form on large data, past `exact_draw_limit` rounds x cells
    when `resampling` is "auto": ratings/bootstrap.py), all rounds fitted at once."""
    if rounds < 1:
        raise ValueError(f"bootstrap rounds must be at least 1, not {rounds}")
    if counts.contender_count < 2 or counts.total == 0:
        bootstrap.resampling_method(bootstrap.pair_table(counts), rounds, resampling)  # reject bad names
        fitted = None
        round_ratings = np.repeat(fit.ratings[None, :], rounds, axis=0)
    else:
        fitted, method = bootstrap.bootstrap_rounds(
            counts,
            fit.log_strengths,
            rounds=rounds,
            seed=seed,
            ridge=fit.ridge,
            tolerance=fit.tolerance,
            resampling=resampling,
            exact_draw_limit=exact_draw_limit,
        )
        round_ratings = ratings_from_log_strengths(
            fitted.log_strengths, anchor_index=fit.anchor_index, anchor_rating=fit.anchor_rating
        )
    low, high = np.percentile(round_ratings, [2.5, 97.5], axis=0)
    return BootstrapIntervals(
        low=low,
        high=high,
        round_ratings=round_ratings,
        resampling="none" if fitted is None else method,
        iterations=0 if fitted is None else int(fitted.iterations.max()),
        gradient_norm=0.0 if fitted is None else float(fitted.gradient_norms.max()),
        converged=fitted is None or bool(fitted.converged.all()),
    )
