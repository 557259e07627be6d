"""Rating math: numpy arrays in, numpy arrays out. No Django, no I/O, deterministic given a seed.

Contenders are numbered 0..n-1 by the caller. A battle is (index of A, index of B, score of A), the
score being 1 when A won, 0 when B won and 0.5 for a tie or "both are bad". Votes are aggregated into
`PairCounts` (n x n x 4: A's index, B's index, outcome), and every statistic is computed from those.

Bradley-Terry: P(i beats j) = 1 / (1 + exp(theta_j - theta_i)), fitted by maximum likelihood on the
pair counts, a tie or both-bad vote counting as half a win each way (as Chatbot Arena does). Ratings are
on the Elo scale, 400 * log10 units: theta * 400 / ln(10), shifted so that the mean (or the contender
`anchor_index`) is `anchor_rating`.

The ridge: we maximise  log-likelihood - ridge / 2 * sum(theta**2),  ridge = 1e-6 by default (in votes;
a Gaussian prior with a standard deviation of 1000 natural-log units, ~174,000 rating points: it moves
a rating backed by data by far less than 0.001 points). The likelihood is blind to a common shift, so
the penalty makes sum(theta) = 0 within every connected group at the optimum, and it keeps every
rating finite when the plain maximum-likelihood estimate does not exist. Newton's method with a
backtracking line search runs until the gradient's Euclidean norm (in votes) is <= `tolerance` (1e-10),
never a fixed number of times; past ~10 million votes float64 rounding alone exceeds 1e-10, and a fit
whose gradient stops falling below the rounding floor (ratings/bootstrap.py) also counts as converged.

Flags (`BradleyTerryFit.flags`, `RatingsResult.flags`): some numbers rest on the ridge, not on data.
- "no_contenders": n = 0; every array is empty.
- "single_contender": n = 1; rating and both interval bounds are the anchor rating.
- "no_votes": contenders but no votes; all at the anchor rating, zero-width intervals.
- "only_ties": all votes are ties or both-bad; everyone who voted is rated equal.
- "unrated": some contender has no vote; the ridge alone holds it at the mean.
- "disconnected": the contenders with votes form two or more groups never compared with each other.
  Ratings are comparable within a group, not across: the ridge puts each group's mean at the common
  mean, and no interval includes the unknown gap between groups.
- "undefeated": some contender never lost (and won at least once).
- "winless": some contender never won (and lost at least once).
- "separated": within a group, some contenders never scored (won or tied) against the rest, so the
  maximum-likelihood gap is infinite; the ridge makes it a large finite one (often thousands of
  points) and the intervals of those contenders mean little. Usually "undefeated" or "winless"
  without a tie.
- "not_converged": the tolerance was not reached (rounding can prevent it on vast counts).

95% intervals: the bootstrap (ratings/bootstrap.py), and the sandwich H^-1 M H^-1 (H the negative
Hessian, M the sum over (pair, outcome) cells of count * g g^T, g one vote's log-likelihood gradient),
which stays valid when ties make the half-win likelihood a quasi-likelihood.

The code: pair counts and the fit in ratings/bradley_terry.py, intervals and ranks in
ratings/intervals.py, the batched numeric engine under both in ratings/bootstrap.py. This module puts
them together (`ratings_compute`) and names the whole API: import the rating math from here. Also named
here: the ranks an interval allows and the votes a lead rests on (ratings/fragility.py), and how much of
a rating's uncertainty comes from sampling answers (ratings/decoding.py). Style control, ratings with
the answers' length and markdown held equal, is in ratings/style.py and named here too.
"""

from dataclasses import dataclass

import numpy as np

from ratings.bootstrap import FloatArray, IntArray
from ratings.bradley_terry import (
    DEFAULT_RIDGE,
    DEFAULT_TOLERANCE,
    ELO_BASE,
    ELO_INITIAL,
    ELO_SCALE,
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_BOTH_BAD,
    OUTCOME_COUNT,
    OUTCOME_TIE,
    RATING_PER_LOG_STRENGTH,
    BoolArray,
    BradleyTerryFit,
    OutcomeTotals,
    PairCounts,
    bradley_terry,
    data_flags,
    outcome_totals,
    ratings_from_log_strengths,
    score_of_outcome,
)
from ratings.decoding import DecodingVariance, SampledVotes, decoding_variance
from ratings.fragility import NeighbourFragility, neighbour_fragility, rank_spread
from ratings.intervals import (
    Z_95,
    BootstrapIntervals,
    Intervals,
    SandwichIntervals,
    bootstrap_intervals,
    identification_matrix,
    predicted_win_probabilities,
    ranks_from_intervals,
    sandwich_intervals,
)
from ratings.style import StyleFit, style_bradley_terry
from ratings.style_features import (
    STYLE_FEATURE_NAMES,
    StyleCovariates,
    StyleFeatures,
    answer_style_features,
    style_covariates,
)

__all__ = [
    "DEFAULT_RIDGE",
    "DEFAULT_TOLERANCE",
    "ELO_BASE",
    "ELO_INITIAL",
    "ELO_K",
    "ELO_SCALE",
    "OUTCOME_A",
    "OUTCOME_B",
    "OUTCOME_BOTH_BAD",
    "OUTCOME_COUNT",
    "OUTCOME_TIE",
    "RATING_PER_LOG_STRENGTH",
    "STYLE_FEATURE_NAMES",
    "Z_95",
    "BoolArray",
    "BootstrapIntervals",
    "BradleyTerryFit",
    "DecodingVariance",
    "FloatArray",
    "IntArray",
    "Intervals",
    "NeighbourFragility",
    "OutcomeTotals",
    "PairCounts",
    "RatingsResult",
    "SampledVotes",
    "SandwichIntervals",
    "StyleCovariates",
    "StyleFeatures",
    "StyleFit",
    "answer_style_features",
    "bootstrap_intervals",
    "bradley_terry",
    "data_flags",
    "decoding_variance",
    "identification_matrix",
    "neighbour_fragility",
    "online_elo",
    "outcome_totals",
    "predicted_win_probabilities",
    "rank_spread",
    "ranks_from_intervals",
    "ratings_compute",
    "ratings_from_log_strengths",
    "sandwich_intervals",
    "score_of_outcome",
    "style_bradley_terry",
    "style_covariates",
]

# Chatbot Arena's online Elo parameters: K here, the scale in ratings/bradley_terry.py.
ELO_K = 4.0


def online_elo(
    contender_a: IntArray,
    contender_b: IntArray,
    score_a: FloatArray,
    *,
    contender_count: int,
    k: float = ELO_K,
    base: float = ELO_BASE,
    scale: float = ELO_SCALE,
    initial: float = ELO_INITIAL,
    start: FloatArray | None = None,
) -> FloatArray:
    """Elo after applying the battles one by one, in the order given (time order)."""
    ratings = [initial] * contender_count if start is None else [float(value) for value in start]
    # Plain Python floats: faster than indexing numpy scalars one battle at a time.
    for a, b, score in zip(contender_a.tolist(), contender_b.tolist(), score_a.tolist(), strict=True):
        rating_a = ratings[a]
        rating_b = ratings[b]
        expected_a = 1.0 / (1.0 + base ** ((rating_b - rating_a) / scale))
        delta = k * (score - expected_a)
        ratings[a] = rating_a + delta
        ratings[b] = rating_b - delta
    return np.asarray(ratings, dtype=np.float64)


@dataclass(frozen=True)
class RatingsResult:
    """Everything a snapshot stores. Per-contender arrays have length n; matrices are n x n."""

    ratings: FloatArray  # Bradley-Terry, Elo scale
    bootstrap_low: FloatArray
    bootstrap_high: FloatArray
    sandwich_low: FloatArray
    sandwich_high: FloatArray
    standard_errors: FloatArray  # sandwich, rating points
    ranks: IntArray  # from the bootstrap intervals
    totals: OutcomeTotals
    win_rates: FloatArray  # ties excluded; NaN without a decisive vote
    battle_counts: IntArray
    win_rate_matrix: FloatArray  # observed, ties excluded; NaN without a decisive vote
    predicted_win_rates: FloatArray
    component: IntArray  # comparison group of each contender
    flags: tuple[str, ...]
    iterations: int
    gradient_norm: float
    converged: bool
    bootstrap_resampling: str  # "multinomial", "poisson" or "none" (see ratings/bootstrap.py)
    bootstrap_iterations: int  # the most any round needed
    bootstrap_gradient_norm: float  # the largest final gradient norm of any round
    fit: BradleyTerryFit | None = None  # the point fit the rest derives from
    bootstrap_round_ratings: FloatArray | None = None  # (rounds, n), on the fit's scale


def ratings_compute(
    counts: PairCounts,
    *,
    bootstrap_rounds: int = 1000,
    seed: int = 0,
    anchor_index: int | None = None,
    anchor_rating: float = ELO_INITIAL,
    ridge: float = DEFAULT_RIDGE,
    tolerance: float = DEFAULT_TOLERANCE,
) -> RatingsResult:
    fit = bradley_terry(
        counts, anchor_index=anchor_index, anchor_rating=anchor_rating, ridge=ridge, tolerance=tolerance
    )
    sandwich = sandwich_intervals(counts, fit)
    if bootstrap_rounds == 0:  # no bootstrap: the sandwich intervals serve as the intervals and ranks
        resampled = BootstrapIntervals(
            low=sandwich.low,
            high=sandwich.high,
            round_ratings=np.empty((0, counts.contender_count)),
            resampling="none",
            iterations=0,
            gradient_norm=0.0,
            converged=True,
        )
    else:
        resampled = bootstrap_intervals(counts, fit, rounds=bootstrap_rounds, seed=seed)
    totals = counts.totals()
    converged = fit.converged and resampled.converged
    return RatingsResult(
        ratings=fit.ratings,
        bootstrap_low=resampled.low,
        bootstrap_high=resampled.high,
        sandwich_low=sandwich.low,
        sandwich_high=sandwich.high,
        standard_errors=sandwich.standard_errors,
        ranks=ranks_from_intervals(resampled.low, resampled.high),
        totals=totals,
        win_rates=totals.win_rate(),
        battle_counts=counts.battle_counts(),
        win_rate_matrix=counts.win_rate_matrix(),
        predicted_win_rates=predicted_win_probabilities(fit.ratings),
        component=fit.component,
        flags=fit.flags if converged == fit.converged else (*fit.flags, "not_converged"),
        iterations=fit.iterations,
        gradient_norm=fit.gradient_norm,
        converged=converged,
        bootstrap_resampling=resampled.resampling,
        bootstrap_iterations=resampled.iterations,
        bootstrap_gradient_norm=resampled.gradient_norm,
        fit=fit,
        bootstrap_round_ratings=resampled.round_ratings,
    )
