"""Adaptive pairing: which pair of contenders the next battle should show, so that one more vote helps
the ranking most. numpy in, numpy out; no Django, no I/O, deterministic. O(n²) in the contenders.

The policy mixes three parts and gives each unordered pair {i, j} of drawable contenders a probability

    P(i, j) = e · weighted(i, j) + f · floor(i, j) + (1 − e − f) · information(i, j)

- **exploration** (share e = ARENA_PAIRING_EXPLORATION): the weighted drawing, two successive picks
  without replacement by draw weight d (sampling weight × the fading boost for new contenders):
  weighted(i, j) = d_i d_j / D · (1 / (D − d_i) + 1 / (D − d_j)), D = Σ d.
- **coverage floor** (share f = ARENA_PAIRING_FLOOR_SHARE while any pair has fewer than
  ARENA_PAIRING_PAIR_FLOOR votes, 0 after): floor(i, j) ∝ (floor − votes_ij) · d_i d_j over the pairs
  below the floor, so every pair is seen a few times whatever the board says.
- **information** (the rest): information(i, j) ∝ gain_ij³ · d_i d_j, gain_ij being what one more vote
  on {i, j} is expected to take off the variances that decide the order of rank neighbours.

The gain. Contenders in the board's rating order form neighbour gaps g = (a, b); a gap's need is 1 while
the two 95% intervals overlap, falls linearly to 0 as the gap grows to twice the two half-widths, and
is 0 beyond (clearly separated neighbours are no longer favoured). One vote between i and j carries
the Fisher information w_ij = p_ij (1 − p_ij), p_ij the board's probability that i beats j; the votes
so far make a network of conductances c_ij = votes_ij · w_ij, in which the variance of a rating
difference is the resistance between its two ends. For a gap, R_g = min(1 / (c_ab + Σ_m S(c_am, c_mb)),
v_a + v_b): the direct comparisons and every path through one other contender m (S(x, y) = xy / (x + y),
two conductances in series), and never more than the two standard errors squared (v, natural-log
units) allow. A vote adding conductance Δ to a gap lowers its variance by Δ R_g² / (1 + Δ R_g)
(Sherman–Morrison): Δ = w_ab for a vote between the neighbours themselves, and
Δ = S(c_am + w_am, c_mb) − S(c_am, c_mb) for a vote between a and a third contender m (likewise for b).
So

    gain_ij = Σ_g need_g · (fall of R_g from a vote on {i, j})
              + (A_i w_ij v_i² + A_j w_ij v_j²) / (1 + w_ij (v_i + v_j))

the second line being the fall of the contenders' own variances (their intervals on the board, taken
as independent), A_i the needs of i's gaps added up. Wide intervals and overlapping neighbours
weigh most. Cubing the gain makes the part draw mostly the few pairs that help most: drawn in plain
proportion, the many pairs of middling gain would take most draws, and always the best pair would pour
every vote until the next refresh into one pair.

If no gap needs anything (every neighbour is clearly separated), the information share is drawn as
exploration. Contenders not on the board yet sit at the board's mean with a standard error of
STANDARD_ERROR_CAP_POINTS (also the cap of every standard error: a contender with a vote or two has an
enormous one, and would otherwise take every information draw). The draw weights multiply every part,
so a new contender keeps its boost and a sampling weight keeps its meaning.
"""

import functools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

POLICY_ADAPTIVE = "adaptive"
POLICY_WEIGHTED = "weighted"
POLICIES = (POLICY_ADAPTIVE, POLICY_WEIGHTED)

# The rating scale (ratings/bradley_terry.py): 400·log10 units, and the 95% normal quantile.
_RATING_PER_LOG_STRENGTH = 400.0 / math.log(10.0)
Z_95 = 1.959963984540054
STANDARD_ERROR_CAP_POINTS = 200.0
# A gap's need falls from 1 (intervals touch) to 0 (gap = this many times the two half-widths).
_CLEARLY_SEPARATED = 2.0
# The information part draws pairs in proportion to their gain to this power (module docstring).
_SHARPNESS = 3


@dataclass(frozen=True)
class PairingSettings:
    policy: str = POLICY_ADAPTIVE
    exploration: float = 0.2
    pair_floor: int = 5
    floor_share: float = 0.2
    question_floor: int = 3

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"pairing policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        for name in ("exploration", "floor_share"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.pair_floor < 0 or self.question_floor < 0:
            raise ValueError("floors must not be negative")


@dataclass(frozen=True)
class PolicyShares:
    """The fractions of draws that go to each part of the policy (they add up to 1)."""

    exploration: float
    floor: float
    information: float


@dataclass(frozen=True)
class PairDistribution:
    """Each unordered pair's probability. Pairs are (first[k], second[k]), indices into
    contender_ids with first < second, in numpy's upper-triangle order."""

    contender_ids: tuple[int, ...]
    first: IntArray
    second: IntArray
    probabilities: FloatArray  # the whole policy; sums to 1
    focused: FloatArray  # the floor and information parts alone, renormalised (zeros if they have no share)
    weighted: FloatArray  # the exploration part: today's weighted drawing
    pair_votes: IntArray
    shares: PolicyShares

    def top(self, count: int) -> list[tuple[int, int, float, int]]:
        """The `count` most likely pairs as (contender id, contender id, probability, votes so far),
        most likely first (ties by position)."""
        order = np.argsort(-self.probabilities, kind="stable")[:count]
        ids = self.contender_ids
        return [
            (ids[self.first[k]], ids[self.second[k]], float(self.probabilities[k]), int(self.pair_votes[k]))
            for k in order
            if self.probabilities[k] > 0
        ]

    def focused_pair(
        self, point: float, *, among: Collection[int], with_contender: int | None = None
    ) -> tuple[int, int] | None:
        """A pair drawn by the floor and information parts (`point` uniform in [0, 1)), both of its
        contenders among `among`, and one of them `with_contender` if given (then returned first);
        None if no such pair has a chance."""
        inside = np.isin(np.asarray(self.contender_ids, dtype=np.int64), np.fromiter(among, dtype=np.int64))
        allowed = inside[self.first] & inside[self.second]
        if with_contender is not None:
            index = self.contender_ids.index(with_contender)
            allowed &= (self.first == index) | (self.second == index)
        drawn = pair_pick(self.focused, point, allowed=allowed)
        if drawn is None:
            return None
        pair = self.contender_ids[self.first[drawn]], self.contender_ids[self.second[drawn]]
        return (pair[1], pair[0]) if pair[1] == with_contender else pair

    def probability_of(self, contender_a: int, contender_b: int) -> float:
        index = {contender_id: position for position, contender_id in enumerate(self.contender_ids)}
        low, high = sorted((index[contender_a], index[contender_b]))
        position = pair_position(len(self.contender_ids), np.array([low]), np.array([high]))
        return float(self.probabilities[position[0]])


@dataclass(frozen=True)
class PairingPlan:
    """How adaptive pairing draws right now: the pairs' chances over the drawable contenders (from
    the board `snapshot_id`), and the votes per question for the question floor."""

    distribution: PairDistribution
    question_votes: Mapping[int, int]
    question_floor: int
    snapshot_id: int

    def questions_below_floor(self, question_ids: Iterable[int]) -> list[int]:
        return [pk for pk in question_ids if self.question_votes.get(pk, 0) < self.question_floor]


@functools.lru_cache(maxsize=8)
def pair_indices(n: int) -> tuple[IntArray, IntArray]:
    """Every unordered pair of n contenders as (first, second) index arrays, first < second, in
    numpy's upper-triangle order (read-only)."""
    first, second = (indices.astype(np.int64) for indices in np.triu_indices(n, k=1))
    first.flags.writeable = second.flags.writeable = False
    return first, second


def pair_position(n: int, low: IntArray, high: IntArray) -> IntArray:
    """The position of pairs (low, high), low < high, in the upper-triangle order of n contenders."""
    return low * n - low * (low + 1) // 2 + (high - low - 1)


def weighted_pair_probabilities(weights: FloatArray) -> FloatArray:
    """Two successive picks without replacement, each by weight: the probability of each unordered
    pair, in upper-triangle order."""
    weights = np.clip(np.nan_to_num(np.asarray(weights, dtype=np.float64)), 0.0, None)
    first, second = pair_indices(len(weights))
    total = weights.sum()
    if total <= 0:
        return np.zeros(len(first))
    rest = total - weights
    then = np.zeros_like(weights)
    np.divide(1.0, rest, out=then, where=rest > 0)
    return weights[first] * weights[second] / total * (then[first] + then[second])


def neighbour_needs(ratings: FloatArray, standard_errors: FloatArray) -> tuple[IntArray, FloatArray]:
    """Contenders in rating order (ties by index), and each neighbour gap's need: 1 while the two 95%
    intervals overlap, falling linearly to 0 at a gap of twice the two half-widths."""
    ratings = np.asarray(ratings, dtype=np.float64)
    errors = np.asarray(standard_errors, dtype=np.float64)
    order = np.lexsort((np.arange(len(ratings)), ratings)).astype(np.int64)
    gaps = np.diff(ratings[order])
    reach = Z_95 * (errors[order][:-1] + errors[order][1:])
    separation = np.where(gaps > 0, np.inf, 0.0)
    np.divide(gaps, reach, out=separation, where=reach > 0)
    needs = np.clip((_CLEARLY_SEPARATED - separation) / (_CLEARLY_SEPARATED - 1.0), 0.0, 1.0)
    return order, needs


def information_gains(ratings: FloatArray, standard_errors: FloatArray, pair_votes: IntArray) -> FloatArray:
    """gain_ij of the module docstring for every pair, in upper-triangle order (ratings and standard
    errors in rating points, finite; pair_votes n × n, symmetric)."""
    ratings = np.asarray(ratings, dtype=np.float64)
    n = len(ratings)
    order, needs = neighbour_needs(ratings, standard_errors)
    needy = needs > 0
    low, high, needs = order[:-1][needy], order[1:][needy], needs[needy]
    if not len(needs):
        return np.zeros(n * (n - 1) // 2)
    # One vote's Fisher information p (1 - p) = 1 / (4 cosh²(x / 2)), x the gap in natural-log units.
    with np.errstate(over="ignore"):  # far apart: cosh is infinite, and the information 0
        information = np.cosh((ratings[:, None] - ratings[None, :]) / (2.0 * _RATING_PER_LOG_STRENGTH))
        information *= information
    np.divide(0.25, information, out=information)
    conductance = np.asarray(pair_votes, dtype=np.float64) * information
    np.fill_diagonal(conductance, 0.0)
    variance = (np.asarray(standard_errors, dtype=np.float64) / _RATING_PER_LOG_STRENGTH) ** 2

    # Each gap (low, high): the direct comparisons and the paths through every other contender m.
    to_low, to_high = conductance[low], conductance[high]
    through = to_low + to_high
    paths = _divided(to_low * to_high, through)
    total = conductance[low, high] + paths.sum(axis=1)
    resistance = np.full(len(needs), np.inf)
    np.divide(1.0, total, out=resistance, where=total > 0)
    resistance = np.minimum(resistance, variance[low] + variance[high])[:, None]
    weight = needs[:, None] * resistance**2

    # gains[x, m]: from the gaps x is an end of (each contender is the low end of one gap at most, and
    # the high end of one at most), for votes (x, m); the pair {i, j} gets [i, j] + [j, i]. A vote
    # (low, m) adds S(c + w, c') − S(c, c') = c'² w / ((c + c')(c + c' + w)) to the path through m,
    # and the gap's variance falls by need · added · R² / (1 + added · R).
    gains = np.zeros((n, n))
    gap_rows = np.arange(len(needs))
    for end, other in ((low, to_high), (high, to_low)):
        vote = information[end]
        added = other * other
        added *= vote
        spread = through + vote
        spread *= through
        added = _divided(added, spread)
        spread = np.multiply(added, resistance, out=spread)
        spread += 1.0
        added *= weight
        added /= spread
        added[gap_rows, low] = added[gap_rows, high] = 0.0  # a contender and itself; the gap's own pair
        gains[end] += added
    direct = information[low, high]
    gains[low, high] += weight[:, 0] * direct / (1.0 + direct * resistance[:, 0])
    gains += gains.T

    # The contenders' own variances, by their gaps' needs: w (A_i v_i² + A_j v_j²) / (1 + w (v_i + v_j)).
    needs_of = np.bincount(low, weights=needs, minlength=n) + np.bincount(high, weights=needs, minlength=n)
    own_need = needs_of * variance**2
    own = own_need[:, None] + own_need[None, :]
    own *= information
    spread = variance[:, None] + variance[None, :]
    spread *= information
    spread += 1.0
    own /= spread
    gains += own
    return np.take(gains, _upper_positions(n))


@functools.lru_cache(maxsize=8)
def _upper_positions(n: int) -> IntArray:
    """The flat positions in an n × n matrix of the pairs in upper-triangle order."""
    first, second = pair_indices(n)
    positions = first * n + second
    positions.flags.writeable = False
    return positions


def _divided(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator where the numerator is 0 wherever the denominator is (no comparison,
    no path): 0 there."""
    return np.divide(numerator, np.maximum(denominator, np.finfo(np.float64).tiny), out=numerator)


def _board_filled(ratings: FloatArray, standard_errors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Contenders not on the board (NaN) at the board's mean; standard errors capped, unknown ones at
    the cap."""
    ratings = np.asarray(ratings, dtype=np.float64).copy()
    errors = np.asarray(standard_errors, dtype=np.float64).copy()
    known = np.isfinite(ratings)
    ratings[~known] = ratings[known].mean() if known.any() else 0.0
    errors[~np.isfinite(errors) | ~known] = STANDARD_ERROR_CAP_POINTS
    return ratings, np.clip(errors, 0.0, STANDARD_ERROR_CAP_POINTS)


def with_judge_prior(
    ratings: FloatArray,
    standard_errors: FloatArray,
    votes: npt.ArrayLike,
    judge_ratings: FloatArray,
    judge_errors: FloatArray,
    *,
    settled_votes: int,
) -> tuple[FloatArray, FloatArray]:
    """The voters' board with the judges' as a prior for contenders the voters have not settled yet
    (fewer than `settled_votes` votes): a contender not on the voters' board takes the judges' rating,
    one with a few votes the precision-weighted mean of the two. The judges' board is put on the
    voters' scale by the median difference over the contenders settled on both, and its standard
    errors widened by how far the two boards disagree there (root mean square of the residuals); with
    fewer than two such contenders nothing changes. NaN: not on a board."""
    ratings = np.asarray(ratings, dtype=np.float64).copy()
    errors = np.asarray(standard_errors, dtype=np.float64).copy()
    counts = np.asarray(votes, dtype=np.float64)
    judged = np.isfinite(judge_ratings) & np.isfinite(judge_errors)
    settled = np.isfinite(ratings) & (counts >= settled_votes)
    common = settled & judged
    if common.sum() < 2:
        return ratings, errors
    offset = float(np.median(ratings[common] - judge_ratings[common]))
    residuals = ratings[common] - (judge_ratings[common] + offset)
    spread = float(np.sqrt(np.mean(residuals**2)))
    prior = judge_ratings + offset
    prior_errors = np.sqrt(judge_errors**2 + spread**2)
    unsettled = judged & ~settled
    absent = unsettled & ~np.isfinite(ratings)
    ratings[absent], errors[absent] = prior[absent], prior_errors[absent]
    blend = (
        unsettled & np.isfinite(ratings) & ~absent & np.isfinite(errors) & (errors > 0) & (prior_errors > 0)
    )
    voters_weight, judges_weight = 1 / errors[blend] ** 2, 1 / prior_errors[blend] ** 2
    ratings[blend] = (ratings[blend] * voters_weight + prior[blend] * judges_weight) / (
        voters_weight + judges_weight
    )
    errors[blend] = 1 / np.sqrt(voters_weight + judges_weight)
    return ratings, errors


def _normalised(values: FloatArray) -> FloatArray:
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def pair_distribution(
    *,
    contender_ids: Sequence[int],
    ratings: FloatArray,
    standard_errors: FloatArray,
    pair_votes: IntArray,
    draw_weights: FloatArray,
    settings: PairingSettings,
) -> PairDistribution:
    """The policy's probability of each pair of these contenders.

    `ratings` and `standard_errors` in rating points (NaN: not on the board yet), `pair_votes` the
    n × n symmetric matrix of votes between each two, `draw_weights` the weighted drawing's weights
    (sampling weight × fading boost; contenders with weight 0 are never drawn).
    """
    n = len(contender_ids)
    weights = np.clip(np.nan_to_num(np.asarray(draw_weights, dtype=np.float64)), 0.0, None)
    votes_matrix = np.asarray(pair_votes, dtype=np.int64).reshape(n, n)
    first, second = pair_indices(n)
    votes = np.take(votes_matrix, _upper_positions(n))
    weighted = weighted_pair_probabilities(weights)
    exploration = 1.0 if settings.policy == POLICY_WEIGHTED else settings.exploration
    pair_weight = weights[first] * weights[second]
    below = (votes < settings.pair_floor) & (pair_weight > 0)
    floor_share = min(settings.floor_share, 1.0 - exploration) if below.any() else 0.0
    floor = _normalised(np.where(below, (settings.pair_floor - votes) * pair_weight, 0.0))
    information = np.zeros(len(first))
    if exploration + floor_share < 1.0:
        filled_ratings, filled_errors = _board_filled(ratings, standard_errors)
        gains = information_gains(filled_ratings, filled_errors, votes_matrix)
        information = _normalised(np.power(gains, _SHARPNESS) * pair_weight)
    information_share = 1.0 - exploration - floor_share
    if not information.any():  # nothing left to learn about the order: explore instead
        exploration, information_share = exploration + information_share, 0.0
    probabilities = exploration * weighted + floor_share * floor + information_share * information
    focused_share = floor_share + information_share
    focused = (
        (floor_share * floor + information_share * information) / focused_share
        if focused_share > 0
        else np.zeros(len(first))
    )
    return PairDistribution(
        contender_ids=tuple(int(contender_id) for contender_id in contender_ids),
        first=first,
        second=second,
        probabilities=probabilities,
        focused=focused,
        weighted=weighted,
        pair_votes=votes,
        shares=PolicyShares(exploration=exploration, floor=floor_share, information=information_share),
    )


def pair_pick(
    probabilities: FloatArray, point: float, *, allowed: npt.NDArray[np.bool_] | None = None
) -> int | None:
    """The index of the pair that `point` (uniform in [0, 1)) falls on, among the `allowed` pairs
    (all by default), by probability; None if the allowed pairs have no probability."""
    mass = probabilities if allowed is None else np.where(allowed, probabilities, 0.0)
    cumulative = np.cumsum(mass)
    total = cumulative[-1] if len(cumulative) else 0.0
    if total <= 0:
        return None
    index = int(np.searchsorted(cumulative, point * total, side="right"))
    index = min(index, len(cumulative) - 1)
    # Never a pair without probability (a point on a boundary of rounding).
    while mass[index] <= 0:
        index -= 1
    return index
