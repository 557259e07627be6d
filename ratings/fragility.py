"""How firm the order of the board is: the ranks a contender's interval allows, and how many votes would
have to be removed to swap two contenders rated next to each other. numpy only, no Django, deterministic.

Rank spread. With 95% intervals [low, high] per contender (the bootstrap's on the board):
- best rank  = 1 + the number of other contenders whose low is above my high (they are surely above me):
  Chatbot Arena's rank, the one `ranks_from_intervals` gives;
- worst rank = 1 + the number of other contenders whose high is above my low (they could be above me:
  their interval overlaps mine, or lies wholly above it).
Both comparisons are strict, so a contender whose interval only touches mine at one point counts in
neither. best <= worst, and equal intervals of zero width give equal ranks.

Fragility ("robust to k votes"). For two contenders next to each other in the order of the fit's ratings,
upper above lower, k is the number of votes whose removal makes the refitted rating of lower >= that of
upper (equal counts as swapped; within SWAP_TOLERANCE natural-log units, ~2e-6 rating points, which is
the fit's own precision). Finding the least such set is a combinatorial problem; we approximate it by
the "approximate maximum influence perturbation" of Broderick, Giordano & Meager (2020), as applied to
Chatbot Arena's votes in arXiv 2508.11847, and check the result by refitting:

1. First order. Removing one vote of i against j, in which i scored y (1 won, 0 lost, ½ tie or both-bad),
   moves the fit by about -H^-1 (y - p_ij)(e_i - e_j) (H the negative Hessian at the fit, p_ij the fitted
   probability that i beats j), so it narrows the gap d = theta_upper - theta_lower by
       (y - p_ij) (w_i - w_j),   w = H^-1 (e_upper - e_lower).
   H^-1 is taken with the groups' mean directions handled as in `sandwich_intervals` (those directions
   do not affect differences within a group). All votes of a kind (pair and outcome; the side does not
   matter to Bradley-Terry) have the same effect. The removal order is greedy: kinds by decreasing
   narrowing per vote, each taken whole before the next. The first-order estimate is the least number
   of votes in that order whose summed narrowing reaches d. Only the votes of the pair's own two
   contenders (against anyone) are candidates: the others move the gap only through third
   contenders, far less per vote, and leaving them out keeps the work per pair proportional to n,
   not n^2 (on simulated boards of 40 and 130 contenders, the counts found are the same as with every
   vote a candidate).
2. Check by refitting. The data without the first k votes of that order are refitted (all neighbour
   pairs at once, `fit_rounds` from the full fit with its inverse Hessian as preconditioner), and k is
   adjusted along the same order (interpolating the refitted gaps) until removing k votes swaps the pair
   and removing k - 1 does not, or until MAX_STAGES batched refits have run.

So the reported k is verified: removing those k votes (`NeighbourFragility.removed`) really swaps the
pair. It is the least along the greedy order when `tight`, an upper bound on the least over all sets of
votes in any case (a cleverer set could need fewer), and None when no swap was found by removing up to
`max_votes` votes in that order ("more than max_votes").
"""

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ratings.bootstrap import (
    CHUNK_CELLS,
    FloatArray,
    IntArray,
    fit_rounds,
    negative_hessian,
    round_tolerance,
    win_probabilities,
    workers_default,
)
from ratings.bradley_terry import BradleyTerryFit, PairCounts

DEFAULT_MAX_VOTES = 10_000
SWAP_TOLERANCE = 1e-8  # natural-log units: refitted gaps this small count as a tie, so as swapped
MAX_STAGES = 8  # batched refits at most
REFITS_PER_THREAD = 32  # trials a thread gets at least: fewer are not worth a thread
CANDIDATE_KINDS = 64  # kinds of vote ranked per pair at first; multiplied by 4 while too few


def rank_spread(low: FloatArray, high: FloatArray) -> tuple[IntArray, IntArray]:
    """(best, worst) ranks each contender's interval allows (module docstring): best = 1 + #others with
    low > my high (Chatbot Arena's rank), worst = 1 + #others with high > my low."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    surely_above = low[None, :] > high[:, None]  # [i, j]: j is surely above i
    possibly_above = high[None, :] > low[:, None]
    np.fill_diagonal(surely_above, False)
    np.fill_diagonal(possibly_above, False)
    best = 1 + surely_above.sum(axis=1).astype(np.int64)
    worst = 1 + possibly_above.sum(axis=1).astype(np.int64)
    return best, worst


@dataclass(frozen=True)
class NeighbourFragility:
    upper: int  # contender index, rated above `lower` by the fit (ties: the lower index above)
    lower: int
    gap: float  # rating points, upper's minus lower's (>= 0)
    votes: int | None  # removing this many votes swaps them (verified by refitting); None: > max_votes
    estimate: int | None  # the first-order estimate; None: not reached within max_votes votes
    tight: bool  # removing votes - 1 in the same order was refitted too, and does not swap them
    # The votes removed: (i, j, i's score, votes), a score of 1 meaning i beat j, ½ a tie or both-bad.
    removed: tuple[tuple[int, int, float, int], ...]


@dataclass(frozen=True)
class _Kinds:
    """The kinds of vote present: per unordered pair (first < second), first won, second won, drawn."""

    first: IntArray
    second: IntArray
    score: FloatArray  # first's score: 1, 0 or ½
    count: IntArray


def _kinds(counts: PairCounts) -> _Kinds:
    first, second = np.triu_indices(counts.contender_count, 1)
    wins, draws = counts.wins_matrix(), counts.draws_matrix()
    cells = np.stack([wins[first, second], wins[second, first], draws[first, second]], axis=1)
    present = cells > 0
    pair, kind = np.nonzero(present)
    return _Kinds(
        first=first[pair],
        second=second[pair],
        score=np.array([1.0, 0.0, 0.5])[kind],
        count=cells[present].astype(np.int64),
    )


class _Order:
    """One neighbour pair's greedy removal order: the kinds that narrow the gap, by decreasing narrowing
    per vote (equal ones by index). Ranked lazily, only as far as the search looks."""

    def __init__(
        self,
        narrowing: FloatArray,
        count: IntArray,
        max_votes: int,
        hint: IntArray,
        kind_ids: IntArray | None = None,
    ) -> None:
        self._all, self._count, self.max_votes = narrowing, count, max_votes
        self._kind_ids = kind_ids  # the kinds' numbers among all kinds, when these are some of them
        self._hint = hint  # the kinds of the pair's own two contenders: the first ranking's shortlist
        self._complete = narrowing.size == 0  # every kind that narrows the gap is ranked
        self.kinds = np.zeros(0, dtype=np.int64)
        self.narrowing = np.zeros(0)
        self.ends = np.zeros(0, dtype=np.int64)  # votes removed once each kind is exhausted
        self.reached = np.zeros(0)  # first-order narrowing at those points

    def _candidates(self, wanted: int) -> IntArray:
        """The kinds of largest narrowing, all those at least as large as the wanted-th largest or as a
        lower bound of it (so that, sorted, they are a prefix of the order)."""
        size = self._all.size
        if wanted >= size:
            return np.arange(size)
        if self.kinds.size == 0 and self._hint.size >= wanted:
            # The wanted-th largest of a subset is a lower bound of the wanted-th largest of all: a cheap
            # comparison then keeps few more kinds than wanted, sparing a partition of every kind.
            hinted = self._all[self._hint]
            bound = np.partition(hinted, hinted.size - wanted)[hinted.size - wanted]
        else:
            bound = np.partition(self._all, size - wanted)[size - wanted]
        return np.flatnonzero(self._all >= bound)

    def _rank(self, votes: float, narrowed: float) -> None:
        """Rank kinds until they hold `votes` votes or reach a narrowing of `narrowed` (or run out)."""
        while (
            not self._complete
            and (not self.ends.size or self.ends[-1] < votes)
            and (not self.reached.size or self.reached[-1] < narrowed)
        ):
            top = self._candidates(4 * self.kinds.size if self.kinds.size else CANDIDATE_KINDS)
            top = top[np.lexsort((top, -self._all[top]))]
            self._complete = top.size == self._all.size or self._all[top[-1]] <= 0
            top = top[self._all[top] > 0]
            self.kinds, self.narrowing = top, self._all[top]
            self.ends = np.cumsum(self._count[top])
            self.reached = np.cumsum(self.narrowing * self._count[top])

    def available(self) -> int:
        """The votes in all the kinds that narrow the gap."""
        return int(np.where(self._all > 0, self._count, 0).sum())

    def narrowed(self, votes: int) -> float:
        """The first-order narrowing once the first `votes` votes are removed."""
        self._rank(votes, math.inf)
        if votes <= 0 or self.kinds.size == 0:
            return 0.0
        index = min(int(np.searchsorted(self.ends, votes)), self.kinds.size - 1)
        before_votes = int(self.ends[index - 1]) if index else 0
        before = float(self.reached[index - 1]) if index else 0.0
        return before + (min(votes, int(self.ends[index])) - before_votes) * float(self.narrowing[index])

    def votes_for(self, target: float) -> int | None:
        """The least number of votes whose first-order narrowing reaches `target`; None if that takes
        more than max_votes votes, or more than all the votes that narrow the gap."""
        if target <= 0:
            return 0
        self._rank(self.max_votes, target)
        index = int(np.searchsorted(self.reached, target))
        if index >= self.kinds.size:
            return None
        before_votes = int(self.ends[index - 1]) if index else 0
        before = float(self.reached[index - 1]) if index else 0.0
        needed = math.ceil((target - before) / float(self.narrowing[index]) - 1e-9)
        votes = before_votes + min(max(needed, 1), int(self.ends[index]) - before_votes)
        return votes if votes <= self.max_votes else None

    def removal(self, votes: int) -> tuple[IntArray, IntArray]:
        """(kinds, votes of each) removed by the first `votes` votes of the order."""
        self._rank(votes, math.inf)
        starts = self.ends - np.diff(self.ends, prepend=0)
        taken = np.clip(votes - starts, 0, self.ends - starts)
        used = taken > 0
        kinds = self.kinds[used]
        return (kinds if self._kind_ids is None else self._kind_ids[kinds]), taken[used]


def _inverse_hessians(
    theta: FloatArray, battles: FloatArray, ridge: float, component: IntArray
) -> tuple[FloatArray, FloatArray]:
    """(H^-1 for influence, with each group's mean direction given a typical curvature c instead of the
    ridge's, as in `sandwich_intervals`; the plain H^-1, the refits' preconditioner as in the bootstrap).
    H maps each group's mean direction to ridge times itself, so the two differ by exactly
    (1 / ridge - 1 / (ridge + c)) times the projection on those directions: one inversion serves both."""
    hessian = negative_hessian(theta[None], battles[None], ridge=ridge)[0]
    if component.size != theta.size:
        component = np.zeros(theta.size, dtype=np.int64)
    groups = (component[:, None] == component[None, :]) / np.bincount(component)[component]
    scale = max(1.0, float(np.diag(hessian).mean()))
    influence = np.linalg.inv(hessian + scale * groups)
    return influence, influence + (1.0 / ridge - 1.0 / (ridge + scale)) * groups


class _Search:
    """The search along one pair's order: removing `low` votes does not swap the pair, removing `high`
    does (None: not seen yet). Each count tried is remembered with its refitted gap and the first-order
    narrowing there; the next count interpolates the refitted gap to 0 in terms of that narrowing."""

    def __init__(self, order: _Order, gap: float) -> None:
        self.order = order
        self.low, self.low_gap, self.low_narrowed = 0, gap, 0.0
        self.previous_gap, self.previous_narrowed = gap, 0.0  # the low before the current one
        self.high: int | None = 0 if gap <= SWAP_TOLERANCE else None
        self.high_gap = self.high_narrowed = 0.0
        self._limit: int | None = None
        self.done = self.high is not None or order.max_votes == 0

    @property
    def limit(self) -> int:
        """The most votes the order may remove: max_votes, or fewer if fewer votes narrow the gap."""
        if self._limit is None:
            ranked = self.order.ends
            enough = ranked.size > 0 and ranked[-1] >= self.order.max_votes
            self._limit = (
                self.order.max_votes if enough else min(self.order.max_votes, self.order.available())
            )
        return self._limit

    def record(self, votes: int, gap: float) -> None:
        narrowed = self.order.narrowed(votes)
        if gap <= SWAP_TOLERANCE:
            if self.high is None or votes < self.high:
                self.high, self.high_gap, self.high_narrowed = votes, gap, narrowed
        elif votes > self.low:
            self.previous_gap, self.previous_narrowed = self.low_gap, self.low_narrowed
            self.low, self.low_gap, self.low_narrowed = votes, gap, narrowed
        if self.high is not None:
            self.done = self.high - self.low <= 1
        else:
            self.done = self.low >= self.limit

    def next_votes(self) -> int:
        if self.high is not None:  # interpolate between the bracket's ends
            share = self.low_gap / (self.low_gap - self.high_gap)
            target = self.low_narrowed + share * (self.high_narrowed - self.low_narrowed)
            ceiling = self.high - 1
        else:  # extrapolate from the last two counts that did not swap, overshooting a little
            ceiling = self.limit
            shrink = self.previous_gap - self.low_gap
            moved = self.low_narrowed - self.previous_narrowed
            target = (
                self.low_narrowed + 1.05 * self.low_gap * moved / shrink if shrink > 0 < moved else math.inf
            )
        votes = self.order.votes_for(target) if math.isfinite(target) else None
        if votes is None:
            votes = max(2 * self.low, self.low + 1)
        return min(max(votes, self.low + 1), ceiling)


def neighbour_fragility(
    counts: PairCounts, fit: BradleyTerryFit, *, max_votes: int = DEFAULT_MAX_VOTES
) -> list[NeighbourFragility]:
    """Per pair of contenders next to each other in the fit's order (highest rating first), the fewest
    votes found whose removal swaps them, verified by refitting (module docstring)."""
    if max_votes < 0:
        raise ValueError(f"max_votes must not be negative, not {max_votes}")
    n = counts.contender_count
    if n < 2:
        return []
    theta = np.asarray(fit.log_strengths, dtype=np.float64)
    order = np.argsort(-np.asarray(fit.ratings), kind="stable")
    upper, lower = order[:-1], order[1:]
    gaps = theta[upper] - theta[lower]
    battles = counts.battle_counts().astype(np.float64)
    scores = counts.score_matrix().sum(axis=1)
    kinds = _kinds(counts)
    influence, preconditioner = _inverse_hessians(theta, battles, fit.ridge, fit.component)
    # The refits decide a gap's sign only: the bootstrap's round tolerance leaves them within 1e-9
    # natural-log units of their optimum, a tenth of SWAP_TOLERANCE.
    tolerance = round_tolerance(
        negative_hessian(theta[None], battles[None], ridge=fit.ridge)[0],
        ridge=fit.ridge,
        tolerance=fit.tolerance,
    )
    probability, _ = win_probabilities(theta[None])
    residual = kinds.score - probability[0, kinds.first, kinds.second]  # (y - p) per kind
    toward = influence[upper] - influence[lower]  # (pairs, n): w per neighbour pair (H^-1 is symmetric)
    # The kinds each contender takes part in: positions in first + second, sorted by contender.
    members = np.concatenate([kinds.first, kinds.second])
    by_contender = np.argsort(members, kind="stable")
    starts = np.searchsorted(members[by_contender], np.arange(n + 1))

    def kinds_of(contender: int) -> IntArray:
        return by_contender[starts[contender] : starts[contender + 1]] % max(1, kinds.first.size)

    searches = []
    estimates: list[int | None] = []
    for index, gap in enumerate(gaps.tolist()):
        # The votes of the pair's own two contenders, whoever against: the rest move the gap only
        # through third contenders, far less per vote (module docstring).
        own = np.union1d(kinds_of(int(upper[index])), kinds_of(int(lower[index])))
        narrowing = (toward[index, kinds.first[own]] - toward[index, kinds.second[own]]) * residual[own]
        greedy = _Order(narrowing, kinds.count[own], max_votes, np.arange(own.size), kind_ids=own)
        estimates.append(0 if gap <= SWAP_TOLERANCE else greedy.votes_for(gap))
        searches.append(_Search(greedy, gap))

    for stage in range(MAX_STAGES):
        trials: list[tuple[int, int]] = []  # (pair, votes removed)
        for index, search in enumerate(searches):
            if search.done:
                continue
            if stage == 0:
                first = estimates[index]  # within max_votes and the votes that narrow the gap
                votes = search.limit if first is None else first
                if votes == 0:  # no vote narrows the gap, or max_votes is 0
                    search.done = True
                    continue
            elif stage == MAX_STAGES - 1 and search.high is None:
                votes = search.limit  # the last chance to find any swap within the limit
            else:
                votes = search.next_votes()
            trials.append((index, votes))
            if votes - 1 > search.low and (search.high is None or votes - 1 < search.high):
                trials.append((index, votes - 1))  # so that a good guess is also shown to be the least
        if not trials:
            break
        refitted = _refit_gaps(
            theta, battles, scores, kinds, searches, upper, lower, trials, fit, preconditioner, tolerance
        )
        for (index, votes), gap in zip(trials, refitted.tolist(), strict=True):
            searches[index].record(votes, gap)

    results = []
    for index, search in enumerate(searches):
        found = search.high
        removed: list[tuple[int, int, float, int]] = []
        if found:
            chosen, taken = search.order.removal(found)
            for kind, many in zip(chosen.tolist(), taken.tolist(), strict=True):
                i, j, score = int(kinds.first[kind]), int(kinds.second[kind]), float(kinds.score[kind])
                removed.append((j, i, 1.0, many) if score == 0.0 else (i, j, score, many))
        results.append(
            NeighbourFragility(
                upper=int(upper[index]),
                lower=int(lower[index]),
                gap=float(fit.ratings[upper[index]] - fit.ratings[lower[index]]),
                votes=found,
                estimate=estimates[index],
                tight=found is not None and found - search.low <= 1,
                removed=tuple(removed),
            )
        )
    return results


def _refit_gaps(
    theta: FloatArray,
    battles: FloatArray,
    scores: FloatArray,
    kinds: _Kinds,
    searches: list[_Search],
    upper: IntArray,
    lower: IntArray,
    trials: list[tuple[int, int]],
    fit: BradleyTerryFit,
    preconditioner: FloatArray,
    tolerance: float,
) -> FloatArray:
    """theta_upper - theta_lower refitted without the first `votes` votes of each trial's order: the
    trials in batches of about CHUNK_CELLS cells (each batch's arrays built when it is fitted, so
    memory stays near a few batches however many trials there are), spread over the bootstrap's
    threads (numpy releases the GIL; the results do not depend on the split)."""
    rounds = len(trials)
    n = len(theta)

    def refit(part: slice) -> FloatArray:
        batch = trials[part]
        trial_battles = np.repeat(battles[None], len(batch), axis=0)
        trial_scores = np.repeat(scores[None], len(batch), axis=0)
        for row, (index, votes) in enumerate(batch):
            chosen, taken = searches[index].order.removal(votes)
            first, second, score = kinds.first[chosen], kinds.second[chosen], kinds.score[chosen]
            amount = taken.astype(np.float64)
            np.subtract.at(trial_battles[row], (first, second), amount)
            np.subtract.at(trial_battles[row], (second, first), amount)
            np.subtract.at(trial_scores[row], first, score * amount)
            np.subtract.at(trial_scores[row], second, (1.0 - score) * amount)
        return fit_rounds(
            theta,
            trial_battles,
            trial_scores,
            ridge=fit.ridge,
            tolerance=tolerance,
            preconditioner=preconditioner,
        ).log_strengths

    size = max(1, CHUNK_CELLS // max(1, n * n))
    parts = [slice(first, first + size) for first in range(0, rounds, size)]
    threads = min(workers_default(), len(parts), max(1, rounds // REFITS_PER_THREAD))
    if threads == 1:
        refitted = np.concatenate([refit(part) for part in parts])
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            refitted = np.concatenate(list(pool.map(refit, parts)))
    pairs = np.array([index for index, _ in trials])
    rows = np.arange(rounds)
    return refitted[rows, upper[pairs]] - refitted[rows, lower[pairs]]
