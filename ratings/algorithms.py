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
"""

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ratings import bootstrap
from ratings.bootstrap import FloatArray, IntArray, negative_hessian, newton_fit, win_probabilities

BoolArray = npt.NDArray[np.bool_]

# Chatbot Arena's online Elo parameters.
ELO_K = 4.0
ELO_BASE = 10.0
ELO_SCALE = 400.0
ELO_INITIAL = 1000.0


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
class OutcomeTotals:
    """Per contender: wins, losses, ties, both-bad and all votes, as integer arrays."""

    wins: IntArray
    losses: IntArray
    ties: IntArray
    both_bad: IntArray

    @property
    def votes(self) -> IntArray:
        return self.wins + self.losses + self.ties + self.both_bad

    def win_rate(self) -> FloatArray:
        """Wins / (wins + losses): ties and both-bad excluded. NaN where there is no decisive vote."""
        decisive = (self.wins + self.losses).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(decisive > 0, self.wins / np.where(decisive > 0, decisive, 1.0), np.nan)


# Outcome codes in the arrays the caller builds.
OUTCOME_A = 0
OUTCOME_B = 1
OUTCOME_TIE = 2
OUTCOME_BOTH_BAD = 3


def outcome_totals(
    contender_a: IntArray, contender_b: IntArray, outcome: IntArray, *, contender_count: int
) -> OutcomeTotals:
    def count(indices: IntArray) -> IntArray:
        return np.bincount(indices, minlength=contender_count).astype(np.int64)

    a_won = outcome == OUTCOME_A
    b_won = outcome == OUTCOME_B
    tie = outcome == OUTCOME_TIE
    both_bad = outcome == OUTCOME_BOTH_BAD
    return OutcomeTotals(
        wins=count(contender_a[a_won]) + count(contender_b[b_won]),
        losses=count(contender_a[b_won]) + count(contender_b[a_won]),
        ties=count(contender_a[tie]) + count(contender_b[tie]),
        both_bad=count(contender_a[both_bad]) + count(contender_b[both_bad]),
    )


def score_of_outcome(outcome: IntArray) -> FloatArray:
    """A's score: 1 for a win, 0 for a loss, ½ for a tie or both-bad."""
    return np.select([outcome == OUTCOME_A, outcome == OUTCOME_B], [1.0, 0.0], default=0.5)


OUTCOME_COUNT = 4
DEFAULT_RIDGE = 1e-6
DEFAULT_TOLERANCE = 1e-10
Z_95 = 1.959963984540054
RATING_PER_LOG_STRENGTH = ELO_SCALE / math.log(ELO_BASE)  # 400 / ln 10: natural-log units to rating points


@dataclass(frozen=True)
class PairCounts:
    """counts[i, j, k]: votes with contender i on side A, j on side B and outcome k (OUTCOME_*)."""

    counts: IntArray

    def __post_init__(self) -> None:
        counts = np.array(self.counts, dtype=np.int64)  # a private, read-only copy
        if counts.ndim != 3 or counts.shape[0] != counts.shape[1] or counts.shape[2] != OUTCOME_COUNT:
            raise ValueError(f"pair counts must have shape (n, n, {OUTCOME_COUNT}), not {counts.shape}")
        if (counts < 0).any():
            raise ValueError("pair counts must not be negative")
        if counts[np.arange(len(counts)), np.arange(len(counts))].any():
            raise ValueError("pair counts must be zero on the diagonal: a contender never battles itself")
        counts.flags.writeable = False
        object.__setattr__(self, "counts", counts)

    @classmethod
    def from_votes(
        cls, side_a: IntArray, side_b: IntArray, outcome: IntArray, contender_count: int
    ) -> "PairCounts":
        side_a, side_b, outcome = (np.asarray(values, dtype=np.int64) for values in (side_a, side_b, outcome))
        if not side_a.shape == side_b.shape == outcome.shape or side_a.ndim != 1:
            raise ValueError("side_a, side_b and outcome must be one-dimensional arrays of the same length")
        limits = {"side_a": contender_count, "side_b": contender_count, "outcome": OUTCOME_COUNT}
        for (name, limit), values in zip(limits.items(), (side_a, side_b, outcome), strict=True):
            if (bad := np.flatnonzero((values < 0) | (values >= limit))).size:
                raise ValueError(f"vote {bad[0]}: {name} is {values[bad[0]]}, outside 0..{limit - 1}")
        if (same := np.flatnonzero(side_a == side_b)).size:
            raise ValueError(f"vote {same[0]}: contender {side_a[same[0]]} is on both sides")
        cell = (side_a * contender_count + side_b) * OUTCOME_COUNT + outcome
        flat = np.bincount(cell, minlength=contender_count * contender_count * OUTCOME_COUNT)
        return cls(counts=flat.reshape(contender_count, contender_count, OUTCOME_COUNT))

    @property
    def contender_count(self) -> int:
        return int(self.counts.shape[0])

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def totals(self) -> OutcomeTotals:
        c = self.counts
        return OutcomeTotals(
            wins=c[:, :, OUTCOME_A].sum(1) + c[:, :, OUTCOME_B].sum(0),
            losses=c[:, :, OUTCOME_B].sum(1) + c[:, :, OUTCOME_A].sum(0),
            ties=c[:, :, OUTCOME_TIE].sum(1) + c[:, :, OUTCOME_TIE].sum(0),
            both_bad=c[:, :, OUTCOME_BOTH_BAD].sum(1) + c[:, :, OUTCOME_BOTH_BAD].sum(0),
        )

    def wins_matrix(self) -> IntArray:
        """[i, j]: votes in which i beat j, on either side."""
        return self.counts[:, :, OUTCOME_A] + self.counts[:, :, OUTCOME_B].T

    def draws_matrix(self) -> IntArray:
        """[i, j] = [j, i]: ties and both-bad votes between i and j, on either side."""
        draws = self.counts[:, :, OUTCOME_TIE] + self.counts[:, :, OUTCOME_BOTH_BAD]
        return draws + draws.T

    def battle_counts(self) -> IntArray:
        """[i, j] = [j, i]: votes between i and j whatever the sides and the outcome."""
        wins = self.wins_matrix()
        return wins + wins.T + self.draws_matrix()

    def win_rate_matrix(self) -> FloatArray:
        """[i, j]: i's wins over j / decisive votes between them (ties excluded); NaN where there is
        none, and on the diagonal."""
        wins = self.wins_matrix()
        decisive = wins + wins.T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(decisive > 0, wins / np.maximum(decisive, 1), np.nan)

    def score_matrix(self) -> FloatArray:
        """[i, j]: i's score against j, a win counting 1 and a tie or both-bad ½."""
        return self.wins_matrix() + 0.5 * self.draws_matrix()


@dataclass(frozen=True)
class BradleyTerryFit:
    ratings: FloatArray  # Elo scale
    log_strengths: FloatArray  # natural-log units, as fitted (sum 0 in every connected group)
    iterations: int
    gradient_norm: float
    converged: bool
    flags: tuple[str, ...]
    anchor_index: int | None = None
    anchor_rating: float = ELO_INITIAL
    ridge: float = DEFAULT_RIDGE
    tolerance: float = DEFAULT_TOLERANCE
    component: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # group label


def ratings_from_log_strengths(
    log_strengths: FloatArray, *, anchor_index: int | None, anchor_rating: float
) -> FloatArray:
    """Elo-scale ratings, for one fit (n,) or a batch (rounds, n): mean or anchor at anchor_rating."""
    scaled = RATING_PER_LOG_STRENGTH * np.asarray(log_strengths, dtype=np.float64)
    if scaled.shape[-1] == 0:
        return scaled
    level = scaled.mean(axis=-1, keepdims=True) if anchor_index is None else scaled[..., [anchor_index]]
    return scaled - level + anchor_rating


def _reached(adjacency: BoolArray, start: int) -> BoolArray:
    reached = np.zeros(len(adjacency), dtype=bool)
    reached[start] = True
    frontier = reached.copy()
    while frontier.any():
        frontier = adjacency[frontier].any(axis=0) & ~reached
        reached |= frontier
    return reached


def _components(adjacency: BoolArray) -> IntArray:
    labels = np.full(len(adjacency), -1, dtype=np.int64)
    for start in range(len(adjacency)):
        if labels[start] < 0:
            labels[_reached(adjacency, start)] = labels.max() + 1
    return labels


def data_flags(counts: PairCounts, component: IntArray) -> tuple[str, ...]:
    """The flags that depend on the data alone (see the module docstring)."""
    n = counts.contender_count
    if n == 0:
        return ("no_contenders",)
    if n == 1:
        return ("single_contender",)
    if counts.total == 0:
        return ("no_votes",)
    totals = counts.totals()
    voted = totals.votes > 0
    scored = counts.score_matrix() > 0
    separated = False
    for label in np.unique(component[voted]):
        members = component == label
        root = int(np.flatnonzero(members)[0])
        separated |= not (_reached(scored, root)[members].all() and _reached(scored.T, root)[members].all())
    conditions = {
        "only_ties": not (totals.wins.any() or totals.losses.any()),
        "unrated": not voted.all(),
        "disconnected": len(np.unique(component[voted])) > 1,
        "undefeated": bool((voted & (totals.wins > 0) & (totals.losses == 0)).any()),
        "winless": bool((voted & (totals.losses > 0) & (totals.wins == 0)).any()),
        "separated": separated,
    }
    return tuple(name for name, present in conditions.items() if present)


def bradley_terry(
    counts: PairCounts,
    *,
    anchor_index: int | None = None,
    anchor_rating: float = ELO_INITIAL,
    ridge: float = DEFAULT_RIDGE,
    tolerance: float = DEFAULT_TOLERANCE,
) -> BradleyTerryFit:
    """Bradley-Terry by penalised maximum likelihood on the pair counts (see the module docstring)."""
    n = counts.contender_count
    if anchor_index is not None and not 0 <= anchor_index < n:
        raise ValueError(f"anchor_index {anchor_index} is not a contender index (0..{n - 1})")
    if ridge <= 0 or tolerance <= 0:
        raise ValueError("ridge and tolerance must be positive")
    battles = counts.battle_counts().astype(np.float64)
    component = _components(battles > 0)
    fit = newton_fit(
        np.zeros((1, n)),
        battles[None],
        counts.score_matrix().sum(axis=1)[None],
        ridge=ridge,
        tolerance=tolerance,
    )
    converged = bool(fit.converged[0]) if n else True
    flags = data_flags(counts, component) + (() if converged else ("not_converged",))
    log_strengths = fit.log_strengths[0]
    return BradleyTerryFit(
        ratings=ratings_from_log_strengths(
            log_strengths, anchor_index=anchor_index, anchor_rating=anchor_rating
        ),
        log_strengths=log_strengths,
        iterations=int(fit.iterations[0]) if n else 0,
        gradient_norm=float(fit.gradient_norms[0]) if n else 0.0,
        converged=converged,
        flags=flags,
        anchor_index=anchor_index,
        anchor_rating=anchor_rating,
        ridge=ridge,
        tolerance=tolerance,
        component=component,
    )


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
) -> BootstrapIntervals:
    """95% percentile intervals (2.5th, 97.5th) of the ratings refitted on `rounds` resamples of the
    pair counts (multinomial, or its Poisson form on large data: ratings/bootstrap.py), all rounds
    fitted at once."""
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
    )
