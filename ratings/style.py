"""Style control: Bradley-Terry ratings with the answers' style held equal. numpy only, no Django.

Voters prefer longer answers, and answers dressed up with headers, lists and bold text, whatever their
substance. Style control (as LMArena's) fits the style effect next to the contenders' strengths, so
that a contender's rating is what it would earn if its answers looked like everyone else's.

The model. For a vote between contender a (side A) and b (side B) with style covariates x (k values):

    logit P(A beats B) = theta_a - theta_b + beta . x

fitted by maximum likelihood with A's score y = 1 (A won), 0 (B won) or ½ (a tie or both-bad: half a
win each way), exactly as the plain fit in ratings/bradley_terry.py, so with beta held at 0 it is the
plain fit. We maximise  sum over votes of [y log p + (1 - y) log(1 - p)] - ridge / 2 * (|theta|² +
|beta|²): the same ridge (default 1e-6) on the log-strengths and on the style coefficients. On theta it
centres each connected group and keeps separated contenders finite (ratings/algorithms.py); on beta it
keeps a coefficient finite when style alone separates the outcomes, and holds a constant (all-zero)
covariate's coefficient at exactly 0. Ratings are 400 / ln 10 x theta, centred to mean `anchor_rating`
or with contender `anchor_index` at it, as in the plain fit. A coefficient beta_k is in natural-log
odds per standard deviation of covariate k: x 400 / ln 10 it is in rating points (a one-standard-
deviation style advantage is worth as much as that many rating points of strength).

The covariates x, and the style features of one answer they come from: ratings/style_features.py.

Intervals (the style board's): the sandwich, H^-1 M H^-1 over (theta, beta) at the fit, H the negative
Hessian (ridge included) and M = sum over votes of s s^T, s = (y - p)(e_a - e_b, x) one vote's score
(robust: valid when the half-win likelihood of ties is a quasi-likelihood, and when the style model is
only an approximation), carried to the identified ratings (centred, or relative to the anchor) as in
ratings/intervals.py; 95% = estimate ± Z_95 standard errors, for each rating and each coefficient. Ranks
come from the rating intervals (`ranks_from_intervals`). No bootstrap: every round would cost as much
as the fit itself; the sandwich intervals' 95% coverage is checked in simulation (the tests).

How this relates to LMArena (FastChat's fastchat/serve/monitor/rating_systems.py): the same model, the
same four features (its "sum_assistant_tokens", "header_count", "list_count", "bold_count"), the same
normalised difference with +1 and the same standardisation (so the same coefficients, in log-odds
per standard deviation). It differs in: the length proxy above instead of tiktoken's o200k tokens;
code fences found line by line instead of its regular expression over ``` pairs, and __ inside a
word not counted as bold; a ridge of 1e-6 where its L-BFGS fit penalises all parameters by
½ x 0.5 x |parameters|² (its strengths in log10 units) and stops at a gradient of 1e-6 or 100
iterations; Newton's method to a gradient of 1e-10; sandwich intervals instead of its bootstrap
over votes; and our centring or anchor instead of its fixed baseline model.

The fit, for 1-2 million votes (each per-vote array float64; float32 would halve the memory traffic
but cannot reach the 1e-10 gradient tolerance):
- per iteration, per vote: the linear predictor eta, e = exp(-|eta|), the objective, p and
  w = p(1 - p); per ordered pair (A, B): sums of the residuals y - p and of w by np.bincount over the
  votes' cells A * n + B (n² bins), which give the theta gradient and the theta-theta block of the
  Hessian; the theta-beta block from the per-pair sums of w x_k; the beta gradient and the beta-beta
  block X^T (w X) as sums over the votes. np.einsum, not BLAS, on the per-vote arrays (multithreaded
  BLAS stalls when the other cores are busy), and numpy's pairwise summation for the gradient (a
  running sum over a million votes loses ~1e-10 of it);
- the votes' constant per-pair totals (weights, scores) are computed once, and the start is the
  plain fit computed on them, beta = 0 (the same Newton, one row per ordered pair);
- damped Newton (backtracking line search) until the gradient norm <= `tolerance`, or stops falling
  within the rounding floor of ratings/bootstrap.py: 4 iterations on 1.7 million simulated votes;
- the mean log-strength of each connected group has curvature `ridge` alone (the likelihood is blind
  to it) and the exact optimum puts it at 0: the Newton system replaces that curvature by the
  Hessian's typical scale and sets those means to 0 directly (as ratings/intervals.py does for the
  sandwich), so no digit is lost to the near-singular direction;
- the (n + k) x (n + k) systems are solved by a Cholesky factorisation in numpy (ratings/cholesky.py).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ratings.bootstrap import (
    MAX_NEWTON_ITERATIONS,
    MAX_NEWTON_STEP,
    ROUNDING_FLOOR_PER_VOTE,
    FloatArray,
    IntArray,
)
from ratings.bradley_terry import (
    DEFAULT_RIDGE,
    DEFAULT_TOLERANCE,
    ELO_INITIAL,
    RATING_PER_LOG_STRENGTH,
    PairCounts,
    _components,
    data_flags,
    ratings_from_log_strengths,
)
from ratings.cholesky import einsum_product, spd_inverse, spd_solve
from ratings.intervals import Z_95, identification_matrix, ranks_from_intervals

# --- the fit ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StyleFit:
    """Style-controlled ratings (Elo scale) and style coefficients, with their 95% sandwich intervals."""

    ratings: FloatArray  # (n,) centred to anchor_rating, or the anchor at it
    log_strengths: FloatArray  # (n,) natural-log units, as fitted (mean 0 in every connected group)
    low: FloatArray  # (n,) 95% interval of each rating
    high: FloatArray
    standard_errors: FloatArray  # (n,) rating points
    ranks: IntArray  # (n,) from the rating intervals
    covariance: FloatArray  # (n, n) of the ratings, rating points squared
    coefficients: FloatArray  # (k,) natural-log odds per standard deviation of each covariate
    coefficient_low: FloatArray  # (k,) 95% interval of each coefficient
    coefficient_high: FloatArray
    coefficient_standard_errors: FloatArray  # (k,)
    coefficient_covariance: FloatArray  # (k, k)
    covariate_names: tuple[str, ...]
    vote_count: int  # votes fitted (with a positive weight)
    iterations: int
    gradient_norm: float  # of the penalised log-likelihood over (theta, beta), in votes
    converged: bool
    flags: tuple[str, ...]  # the plain fit's data flags (ratings/algorithms.py), and "not_converged"
    anchor_index: int | None = None
    anchor_rating: float = ELO_INITIAL
    ridge: float = DEFAULT_RIDGE
    tolerance: float = DEFAULT_TOLERANCE
    component: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # group label

    @property
    def coefficient_points(self) -> FloatArray:
        """The coefficients in rating points per standard deviation of each covariate."""
        return RATING_PER_LOG_STRENGTH * self.coefficients


@dataclass(frozen=True)
class _Votes:
    """The votes as the fit reads them, with the per-pair totals that do not change between iterations.
    A "pair" is an ordered (A, B) cell of an n x n matrix; per-pair sums are np.bincount over the
    votes' cells (the votes stay in the caller's order: permuting the covariates into pair order
    costs more than the bincounts it would save)."""

    contender_count: int
    cell: IntArray  # (votes,) A * n + B
    covariates: FloatArray  # (k, votes), C-contiguous: one row per covariate
    weights: FloatArray | None  # (votes,), or None for 1 each
    score: FloatArray  # (votes,) y
    pair_weights: FloatArray  # (n, n) total weight of the votes with A = i, B = j
    pair_scores: FloatArray  # (n, n) their total (weighted) score of A
    covariate_scores: FloatArray  # (k,) X^T (weight * y)
    covariate_sums: FloatArray  # (k,) X^T weight
    covariate_magnitudes: FloatArray  # (k,) |X|^T weight

    def pair_sums(self, values: FloatArray) -> FloatArray:
        """[i, j]: the sum of `values` (votes,) over the votes with A = i, B = j."""
        n = self.contender_count
        return np.bincount(self.cell, values, n * n).astype(np.float64, copy=False).reshape(n, n)

    def weighted(self, values: FloatArray) -> FloatArray:
        return values if self.weights is None else values * self.weights


def _contender_sums(pairs: FloatArray) -> FloatArray:
    """Per contender: the sum over its pairs on side A minus the sum over its pairs on side B."""
    return pairs.sum(axis=1) - pairs.sum(axis=0)


SCORE_OF_OUTCOME = np.array([1.0, 0.0, 0.5, 0.5])  # indexed by OUTCOME_*: score_of_outcome as a lookup


def _prepare(
    side_a: IntArray,
    side_b: IntArray,
    outcome: IntArray,
    covariates: FloatArray,
    weights: FloatArray | None,
    n: int,
) -> _Votes:
    cell = side_a * n + side_b
    score = SCORE_OF_OUTCOME[outcome]
    values = np.ascontiguousarray(covariates.T)
    weighted_score = score if weights is None else weights * score
    pair_weights = np.bincount(cell, weights, n * n).astype(np.float64, copy=False).reshape(n, n)
    return _Votes(
        contender_count=n,
        cell=cell,
        covariates=values,
        weights=weights,
        score=score,
        pair_weights=pair_weights,
        pair_scores=np.bincount(cell, weighted_score, n * n).astype(np.float64, copy=False).reshape(n, n),
        covariate_scores=np.einsum("kv,v->k", values, weighted_score),
        covariate_sums=values.sum(axis=1) if weights is None else np.einsum("kv,v->k", values, weights),
        covariate_magnitudes=np.array(
            [
                np.abs(row).sum() if weights is None else np.einsum("v,v->", np.abs(row), weights)
                for row in values
            ]
        ),
    )


class _State:
    """The per-vote quantities at one parameter vector: eta = theta_a - theta_b + beta . x and
    e = exp(-|eta|), from which the objective, p and p(1 - p) follow without overflow."""

    def __init__(self, votes: _Votes, parameters: FloatArray, ridge: float) -> None:
        n = votes.contender_count
        theta, beta = parameters[:n], parameters[n:]
        self.parameters = parameters
        gap = theta[:, None] - theta[None, :]  # [i, j] = theta_i - theta_j
        eta = np.einsum("k,kv->v", beta, votes.covariates)
        eta += np.take(gap.ravel(), votes.cell)
        self.eta = eta
        magnitude = np.abs(eta)
        absolute_sum = float(votes.weighted(magnitude).sum())
        np.negative(magnitude, out=magnitude)
        self.exponential = np.exp(magnitude, out=magnitude)
        tail_sum = float(votes.weighted(np.log1p(self.exponential)).sum())
        # Sums of weight * eta and of weight * y * eta, from the per-pair totals.
        linear_sum = float((gap * votes.pair_weights).sum() + beta @ votes.covariate_sums)
        score_sum = float((gap * votes.pair_scores).sum() + beta @ votes.covariate_scores)
        # log-likelihood = sum weight * (y eta - softplus(eta)), softplus(eta) = max(eta, 0) + log1p(e),
        # and sum weight * max(eta, 0) = (sum weight * eta + sum weight * |eta|) / 2.
        self.objective = (
            score_sum
            - 0.5 * (linear_sum + absolute_sum)
            - tail_sum
            - 0.5 * ridge * float(parameters @ parameters)
        )

    def probabilities(self) -> tuple[FloatArray, FloatArray]:
        """p = P(A beats B) and w = p (1 - p), per vote."""
        larger = 1.0 + self.exponential
        np.reciprocal(larger, out=larger)  # 1 / (1 + e) = max(p, 1 - p)
        smaller = self.exponential * larger  # e / (1 + e) = min(p, 1 - p)
        probability = np.where(self.eta >= 0, larger, smaller)
        smaller *= larger  # p (1 - p)
        return probability, smaller


def _curvature(votes: _Votes, per_vote: FloatArray) -> FloatArray:
    """sum over votes of per_vote * z z^T, z = (e_a - e_b, x): the (n + k) x (n + k) matrix of the
    Hessian (per_vote = weight * p (1 - p)) and of the sandwich's meat (weight * (y - p)²)."""
    n, k = votes.contender_count, len(votes.covariates)
    matrix = np.zeros((n + k, n + k))
    pairs = votes.pair_sums(per_vote)
    pairs += pairs.T
    matrix[:n, :n] = np.diag(pairs.sum(axis=1)) - pairs
    scaled = np.empty_like(per_vote)
    for column, row in enumerate(votes.covariates):
        np.multiply(row, per_vote, out=scaled)
        matrix[:n, n + column] = _contender_sums(votes.pair_sums(scaled))
        # Upper triangle only: rows 0..column of X^T (w x_column).
        matrix[n : n + column + 1, n + column] = np.einsum("kv,v->k", votes.covariates[: column + 1], scaled)
    matrix[n:, :n] = matrix[:n, n:].T
    matrix[n:, n:] = np.triu(matrix[n:, n:]) + np.triu(matrix[n:, n:], 1).T
    return matrix


def _gradient(
    votes: _Votes, parameters: FloatArray, probability: FloatArray, ridge: float
) -> tuple[FloatArray, FloatArray]:
    """The penalised log-likelihood's gradient, and the residuals y - p per vote. Sums of the residuals
    (small terms of either sign), the covariates' by numpy's pairwise summation: their rounding error
    stays far below the tolerance, where X^T p - X^T y would lose ~1e-10 at a million votes."""
    residual = votes.score - probability
    weighted = votes.weighted(residual)
    theta_part = _contender_sums(votes.pair_sums(weighted))
    product = np.empty_like(weighted)
    beta_part = [float(np.multiply(row, weighted, out=product).sum()) for row in votes.covariates]
    return np.concatenate([theta_part, beta_part]) - ridge * parameters, residual


def _groups(component: IntArray, k: int) -> FloatArray:
    """The projection onto the connected groups' mean log-strengths, padded with zeros for beta."""
    n = len(component)
    projection = np.zeros((n + k, n + k))
    projection[:n, :n] = (component[:, None] == component[None, :]) / np.bincount(component)[component]
    return projection


# Newton reuses a Hessian computed within this distance (max norm, natural-log units) of the current
# parameters: every p is then within 2.5e-9 of its value there, and so is the Hessian, relatively.
HESSIAN_REUSE = 1e-8


@dataclass
class _Solution:
    parameters: FloatArray
    hessian: FloatArray  # negative Hessian of the penalised log-likelihood at the solution
    residual: FloatArray  # y - p per vote
    iterations: int
    gradient_norm: float
    converged: bool


def _newton(
    votes: _Votes,
    start: FloatArray,
    component: IntArray,
    *,
    ridge: float,
    tolerance: float,
    max_iterations: int,
) -> _Solution:
    """Damped Newton with a backtracking line search (as ratings/bootstrap.py's newton_fit) on
    (theta, beta), group means of theta held at 0 (module docstring)."""
    groups = _groups(component, len(start) - votes.contender_count)
    outside = np.eye(len(start)) - groups
    noise = 1e-13 * (1.0 + float(votes.pair_weights.sum()))
    # The rounding floor (ratings/bootstrap.py) from each parameter's vote weight: a contender's votes,
    # a covariate's sum of weight * |x|.
    magnitudes = np.concatenate(
        [votes.pair_weights.sum(axis=0) + votes.pair_weights.sum(axis=1), votes.covariate_magnitudes]
    )
    floor = ROUNDING_FLOOR_PER_VOTE * float(np.linalg.norm(magnitudes))
    state = _State(votes, outside @ start, ridge)
    previous = math.inf
    stuck = False
    iteration = 0
    hessian_at = np.full(len(start), np.inf)  # where `hessian` was computed
    while True:
        probability, variance = state.probabilities()
        gradient, residual = _gradient(votes, state.parameters, probability, ridge)
        if np.abs(state.parameters - hessian_at).max() > HESSIAN_REUSE:
            hessian = _curvature(votes, votes.weighted(variance)) + ridge * np.eye(len(start))
            hessian_at = state.parameters
        norm = float(np.linalg.norm(gradient))
        stalled = stuck or (norm <= floor and norm >= 0.25 * previous)
        if norm <= tolerance or stalled or iteration == max_iterations:
            break
        previous = norm
        iteration += 1
        # The group means' curvature is `ridge` alone: replace it by the Hessian's scale, and step the
        # means straight to 0 (the optimum's) instead.
        level = max(1.0, float(np.diag(hessian).mean()))
        step = outside @ spd_solve(hessian + level * groups, gradient) - groups @ state.parameters
        step *= min(1.0, MAX_NEWTON_STEP / max(float(np.abs(step).max()), 1e-300))
        slope = float(gradient @ step)
        size = 1.0
        for _ in range(60):
            trial = _State(votes, state.parameters + size * step, ridge)
            if trial.objective >= state.objective + 1e-4 * size * slope - noise:
                break
            size *= 0.5
        moved = float(np.abs(trial.parameters - state.parameters).max())
        stuck = moved <= 1e-15 * (1.0 + float(np.abs(state.parameters).max()))  # no step changes them
        state = trial
    return _Solution(
        parameters=state.parameters,
        hessian=hessian,
        residual=residual,
        iterations=iteration,
        gradient_norm=norm,
        converged=norm <= max(tolerance, floor),
    )


START_TOLERANCE_PER_VOTE = 1e-6


def _start(votes: _Votes, component: IntArray, ridge: float, tolerance: float) -> FloatArray:
    """The plain Bradley-Terry fit of the same (weighted) votes, the Newton start for theta: the same
    Newton on one row per ordered pair (its votes' total weight, and their mean score as y, which gives
    the same likelihood as the votes themselves when beta = 0)."""
    n = votes.contender_count
    cell = np.flatnonzero(votes.pair_weights)
    weights = votes.pair_weights.ravel()[cell]
    pairs = _Votes(
        contender_count=n,
        cell=cell,
        covariates=np.zeros((0, len(cell))),
        weights=weights,
        score=votes.pair_scores.ravel()[cell] / weights,
        pair_weights=votes.pair_weights,
        pair_scores=votes.pair_scores,
        covariate_scores=np.zeros(0),
        covariate_sums=np.zeros(0),
        covariate_magnitudes=np.zeros(0),
    )
    # Newton on the votes takes it from there: a gradient of 1e-6 per vote is close enough (measured: it
    # saves one or two iterations here and costs none there).
    loose = max(tolerance, START_TOLERANCE_PER_VOTE * float(weights.sum()))
    plain = _newton(
        pairs, np.zeros(n), component, ridge=ridge, tolerance=loose, max_iterations=MAX_NEWTON_ITERATIONS
    )
    return plain.parameters


def _checked_votes(
    side_a: npt.ArrayLike,
    side_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    covariates: npt.ArrayLike,
    weights: npt.ArrayLike | None,
) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray | None]:
    """The votes as arrays, those of weight 0 left out; the sides and outcomes are checked by
    PairCounts.from_votes."""
    first, second, outcomes = (np.asarray(values, dtype=np.int64) for values in (side_a, side_b, outcome))
    values = np.asarray(covariates, dtype=np.float64)
    if values.ndim != 2 or len(values) != len(first) or first.ndim != 1:
        raise ValueError(
            f"covariates must have shape (votes, k) with votes = {len(first)}, not {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("covariates must be finite")
    if weights is None:
        return first, second, outcomes, values, None
    vote_weights = np.asarray(weights, dtype=np.float64)
    if vote_weights.shape != first.shape:
        raise ValueError(f"weights must have shape {first.shape}, not {vote_weights.shape}")
    if not np.isfinite(vote_weights).all() or (vote_weights < 0).any():
        raise ValueError("weights must be finite and not negative")
    kept = vote_weights > 0
    if kept.all():
        return first, second, outcomes, values, vote_weights
    return first[kept], second[kept], outcomes[kept], values[kept], vote_weights[kept]


def style_bradley_terry(
    side_a: npt.ArrayLike,
    side_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    covariates: npt.ArrayLike,
    contender_count: int,
    *,
    covariate_names: Sequence[str] | None = None,
    ridge: float = DEFAULT_RIDGE,
    tolerance: float = DEFAULT_TOLERANCE,
    anchor_index: int | None = None,
    anchor_rating: float = ELO_INITIAL,
    weights: npt.ArrayLike | None = None,
    max_iterations: int = MAX_NEWTON_ITERATIONS,
    start: npt.ArrayLike | None = None,
) -> StyleFit:
    """Style-controlled Bradley-Terry by penalised maximum likelihood over the votes, with sandwich
    intervals (module docstring).

    side_a, side_b: contender indices (votes,); outcome: OUTCOME_* codes (votes,); covariates:
    (votes, k), usually `style_covariates(...).values`; covariate_names: k names (default "x1".."xk");
    weights: optional frequency weights (votes,), a vote of weight w counting as w votes in the
    likelihood and in the sandwich (weight 0 leaves a vote out); start: optional first guess of the
    n log-strengths then the k coefficients (the previous fit of nearly the same votes saves most of
    the Newton iterations; by default, the plain fit and no style effect)."""
    n = contender_count
    if anchor_index is not None and not 0 <= anchor_index < n:
        raise ValueError(f"anchor_index {anchor_index} is not a contender index (0..{n - 1})")
    if ridge <= 0 or tolerance <= 0:
        raise ValueError("ridge and tolerance must be positive")
    first, second, outcomes, values, vote_weights = _checked_votes(
        side_a, side_b, outcome, covariates, weights
    )
    k = values.shape[1]
    names = (
        tuple(f"x{index + 1}" for index in range(k)) if covariate_names is None else tuple(covariate_names)
    )
    if len(names) != k:
        raise ValueError(f"{len(names)} covariate names for {k} covariates")
    counts = PairCounts.from_votes(first, second, outcomes, n)
    component = _components(counts.battle_counts() > 0)
    flags = data_flags(counts, component)
    if n < 2 or len(first) == 0:
        parameters = np.zeros(n + k)
        covariance = np.zeros((n + k, n + k))
        iterations, gradient_norm, converged = 0, 0.0, True
    else:
        votes = _prepare(first, second, outcomes, values, vote_weights, n)
        first_guess = (
            np.concatenate([_start(votes, component, ridge, tolerance), np.zeros(k)])
            if start is None
            else _start_checked(start, n + k, component)
        )
        solution = _newton(
            votes, first_guess, component, ridge=ridge, tolerance=tolerance, max_iterations=max_iterations
        )
        parameters = solution.parameters
        covariance = _sandwich(votes, solution, component)
        iterations, gradient_norm, converged = solution.iterations, solution.gradient_norm, solution.converged
    identify = RATING_PER_LOG_STRENGTH * identification_matrix(n, anchor_index)
    rating_covariance = einsum_product(einsum_product(identify, covariance[:n, :n]), identify.T)
    rating_covariance = 0.5 * (rating_covariance + rating_covariance.T)
    coefficient_covariance = 0.5 * (covariance[n:, n:] + covariance[n:, n:].T)
    log_strengths, coefficients = parameters[:n], parameters[n:]
    ratings = ratings_from_log_strengths(
        log_strengths, anchor_index=anchor_index, anchor_rating=anchor_rating
    )
    errors = np.sqrt(np.clip(np.diag(rating_covariance), 0.0, None))
    coefficient_errors = np.sqrt(np.clip(np.diag(coefficient_covariance), 0.0, None))
    low, high = ratings - Z_95 * errors, ratings + Z_95 * errors
    return StyleFit(
        ratings=ratings,
        log_strengths=log_strengths,
        low=low,
        high=high,
        standard_errors=errors,
        ranks=ranks_from_intervals(low, high),
        covariance=rating_covariance,
        coefficients=coefficients,
        coefficient_low=coefficients - Z_95 * coefficient_errors,
        coefficient_high=coefficients + Z_95 * coefficient_errors,
        coefficient_standard_errors=coefficient_errors,
        coefficient_covariance=coefficient_covariance,
        covariate_names=names,
        vote_count=len(first),
        iterations=iterations,
        gradient_norm=gradient_norm,
        converged=converged,
        flags=flags if converged else (*flags, "not_converged"),
        anchor_index=anchor_index,
        anchor_rating=anchor_rating,
        ridge=ridge,
        tolerance=tolerance,
        component=component,
    )


def _start_checked(start: npt.ArrayLike, size: int, component: IntArray) -> FloatArray:
    """A caller's start (theta then beta, say the previous fit of nearly the same votes), its groups'
    means put at 0 as the optimum has them."""
    guess = np.array(start, dtype=np.float64).reshape(-1)
    if guess.shape != (size,) or not np.isfinite(guess).all():
        raise ValueError(f"start must be {size} finite numbers (log-strengths, then coefficients)")
    n = len(component)
    if n:
        means = np.bincount(component, guess[:n]) / np.bincount(component)
        guess[:n] -= means[component]
    return guess


def _sandwich(votes: _Votes, solution: _Solution, component: IntArray) -> FloatArray:
    """H^-1 M H^-1 over (theta, beta), in natural-log units. The meat is zero along the groups' mean
    log-strengths, whose curvature is `ridge` alone: any curvature there gives the same covariance, so
    the Hessian's typical scale stands in for it (as in ratings/intervals.py) and no digit is lost."""
    residual = solution.residual * solution.residual
    if votes.weights is not None:
        residual *= votes.weights
    meat = _curvature(votes, residual)
    bread = solution.hessian
    groups = _groups(component, len(bread) - votes.contender_count)
    inverse = spd_inverse(bread + max(1.0, float(np.diag(bread).mean())) * groups)
    return einsum_product(einsum_product(inverse, meat), inverse)
