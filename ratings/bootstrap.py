"""Batched Bradley-Terry fitting, and the bootstrap resampling it serves. numpy only, no Django.

The numeric engine under ratings/algorithms.py (which holds the public API and the model's
documentation): gradient, Hessian and damped Newton for a batch of data sets at once (the single fit
is a batch of one), the bootstrap's resampling, and its fast batched fit.

Resampling. Each round redraws the count of every (pair, outcome) cell. Bradley-Terry depends on a
pair's cells only through "i beat j", "j beat i" and "tie or both-bad", whatever the sides, so those
three cells per unordered pair are what we draw (by the aggregation property of the multinomial this is
the same as redrawing all n x n x 4 cells).

- "multinomial": numpy's exact multinomial (total fixed, probabilities = observed shares). It costs
  about 0.1 microsecond per cell and round: 1,000 rounds over 130 contenders' 25,000 cells would take
  2-3 s on their own.
- "poisson": every cell independently Poisson(its count): the standard large-sample form of the
  multinomial bootstrap (the multinomial is exactly this conditioned on the total, and Bradley-Terry
  ignores the counts' overall scale). Cells under EXACT_CELL_VOTES votes are drawn exactly, by inverting
  the Poisson distribution function: one 53-bit uniform per draw, looked up in a guide table of the
  nine distributions (_poisson_small, about 5 ns a draw; numpy's sampler takes 45-100 ns with a mean
  per cell). Larger cells come from the normal limit N(count, count), clipped at 0 (P < 0.1%), by the
  Box-Muller transform; a pair whose cells are all large or empty gets its (battles, score) from the
  equivalent bivariate normal, two normal draws instead of three. Against the exact multinomial,
  intervals agree to Monte Carlo noise even with pairs of 4 votes; drawing tiny cells from a normal
  instead shrinks intervals by up to 13%. Small cells are common: 1.7 million votes over 260 contenders
  leave about 50 votes per pair, and most pairs with fewer than 10 ties. So the draws follow a plan
  made once per table (DrawPlan): the pairs without a small cell first, then the others grouped by
  which of their cells are empty, small or large, so that every group is drawn and summed as whole
  arrays; a chunk's stream gives the first pairs' normals, then the small cells, then the large cells'
  normals, and the results are put back in table order.
- "auto" (default): "multinomial" when rounds x cells <= EXACT_DRAW_LIMIT, else "poisson".

Fitting. All rounds of a chunk are fitted at once from the full-data estimate: the iteration
theta <- theta + P g(theta), with g the batched gradient and P the inverse negative Hessian of the
full data at its estimate (a chord Newton method; it gains one to two digits per iteration because every
round is close to the full data), until each round's gradient norm <= its tolerance: the fit's, or, when
larger, ROUND_ERROR x the smallest curvature of the full data's Hessian (leaving out each group's mean
direction, which no rating depends on). A round's rating error is at most its gradient norm over its
smallest curvature, which is the full data's to within a few per cent: every round's identified ratings
are within about 1e-9 natural-log units (2e-7 rating points) of its exact optimum, far below anything
a percentile of 1,000 rounds can resolve, and the iterations the last digits of the fit's 1e-10 would
cost (a third of them on Chatbot Arena's data) are saved. A round that stops gaining a factor of two
per iteration (a degenerate resample: say a contender that never lost in it) is handed to the damped
Newton of the single fit, so every round meets the same tolerance.
Chunks of rounds run on a thread per CPU this process may use, at most MAX_WORKERS (numpy releases the
GIL); each chunk draws from its own stream seeded by (seed, chunk index), so the results depend on the
seed alone, not on the threads.

Cost. Everything above grows with the pairs, about n^2 per round: the draws (a few numbers per pair),
the per-round battle matrices (filled at positions worked out once per table, PairLayout) and each
chord iteration's gradient (three passes over the n x n matrices: the sums s_i + s_j, the division,
einsum's row sums) and preconditioner product. Twice the contenders on the same votes cost four times
as much: at 1.7 million votes, about 0.45 s of CPU for 1,000 rounds over 130 contenders and 1.8 s over
260, half of it the chord iterations (8 to 11 per round) and a third the draws. The damped Newton's
dense solves, n^3 per iteration, are left to the rare rounds the chord iterations cannot finish.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ratings.bradley_terry import PairCounts

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Resampling = Literal["auto", "multinomial", "poisson"]
EXACT_DRAW_LIMIT = 3_000_000  # rounds x cells: about 0.3 s of exact multinomial draws
EXACT_CELL_VOTES = 10
CHUNK_CELLS = 1_000_000  # rounds per chunk x n x n: the chunk's arrays stay near the CPU caches
MAX_CHORD_ITERATIONS = 60
# Threads for the bootstrap's chunks at most: the fit shares the machine with the web server and the other
# workers, and each thread holds a chunk's arrays (a few tens of MB).
MAX_WORKERS = 4
MAX_NEWTON_ITERATIONS = 200
MAX_NEWTON_STEP = 8.0  # natural-log units per iteration: keeps far-off trial points free of overflow
# A refit's identified ratings are left within this many natural-log units of its optimum (module
# docstring).
ROUND_ERROR = 1e-9
ROUNDING_FLOOR_PER_VOTE = 1e-15  # ~20x the rounding error measured on 10-500 million votes


def workers_default() -> int:
    """Threads for the bootstrap's chunks: one per CPU this process may run on, at most MAX_WORKERS."""
    process_cpu_count = getattr(os, "process_cpu_count", None)  # Python 3.13 and later
    if process_cpu_count is not None:
        available = process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        available = len(os.sched_getaffinity(0))
    else:
        available = os.cpu_count()
    return max(1, min(MAX_WORKERS, available or 1))


@dataclass(frozen=True)
class LogStrengthFit:
    log_strengths: FloatArray  # (rounds, n), natural-log units
    iterations: IntArray  # (rounds,)
    gradient_norms: FloatArray  # (rounds,)
    converged: BoolArray  # (rounds,): gradient norm <= max(tolerance, rounding_floor)


def rounding_floor(battles: FloatArray) -> FloatArray:
    """Per round, a gradient norm within which float64 rounding leaves no signal: the gradient's
    rounding error is about 5e-17 x the norm of the contenders' vote counts, which passes the 1e-10
    tolerance only past roughly 5 million votes. A fit whose gradient stops falling there is converged."""
    return ROUNDING_FLOOR_PER_VOTE * np.linalg.norm(battles.sum(axis=2), axis=1)


def win_probabilities(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """p[r, i, j] = P(i beats j) and q = 1 - p, each computed without cancellation or overflow."""
    difference = theta[:, :, None] - theta[:, None, :]
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-difference)), 1.0 / (1.0 + np.exp(difference))


def log_likelihood_gradient(
    theta: FloatArray, battles: FloatArray, scores: FloatArray, *, ridge: float
) -> FloatArray:
    """Gradient of the penalised log-likelihood, for a batch: theta and scores (rounds, n) (a score
    being a contender's total score), battles (rounds, n, n)."""
    probability, _ = win_probabilities(theta)
    return scores - np.einsum("rij,rij->ri", battles, probability) - ridge * theta


def negative_hessian(theta: FloatArray, battles: FloatArray, *, ridge: float) -> FloatArray:
    """Minus the Hessian of the penalised log-likelihood (positive definite), for a batch."""
    probability, complement = win_probabilities(theta)
    weight = battles * probability * complement
    hessian = -weight
    diagonal = np.arange(theta.shape[1])
    hessian[:, diagonal, diagonal] = weight.sum(axis=2) + ridge
    return hessian


def _objective(theta: FloatArray, battles: FloatArray, scores: FloatArray, ridge: float) -> FloatArray:
    # sum over pairs of s_ij log p_ij + s_ji log p_ji, rewritten to need only each side's total score.
    pair_terms = np.einsum("rij,rij->r", battles, np.logaddexp(theta[:, :, None], theta[:, None, :]))
    return (scores * theta).sum(axis=1) - 0.5 * pair_terms - 0.5 * ridge * (theta * theta).sum(axis=1)


def newton_fit(
    start: FloatArray,
    battles: FloatArray,
    scores: FloatArray,
    *,
    ridge: float,
    tolerance: float,
    max_iterations: int = MAX_NEWTON_ITERATIONS,
) -> LogStrengthFit:
    """Damped Newton (backtracking line search), batched over rounds: each round stops once its gradient
    norm <= tolerance, or when it stops falling at the rounding floor, or when no step changes theta."""
    theta = np.array(start, dtype=np.float64)
    rounds = theta.shape[0]
    iterations = np.zeros(rounds, dtype=np.int64)
    norms = np.full(rounds, np.inf)
    floor = rounding_floor(battles)
    active = np.arange(rounds)
    stalled = np.zeros(rounds, dtype=bool)
    # Rounding noise of the objective: below it, the line search cannot tell better from worse.
    noise = 1e-13 * (1.0 + battles.sum(axis=(1, 2)))
    for iteration in range(max_iterations + 1):
        gradient = log_likelihood_gradient(theta[active], battles[active], scores[active], ridge=ridge)
        norm = np.linalg.norm(gradient, axis=1)
        stalled[active] |= (norm <= floor[active]) & (norm >= 0.25 * norms[active])
        norms[active] = norm
        iterations[active] = iteration
        keep = (norm > tolerance) & ~stalled[active]
        active, gradient = active[keep], gradient[keep]
        if active.size == 0 or iteration == max_iterations:
            break
        current, battle, score = theta[active], battles[active], scores[active]
        step = np.linalg.solve(negative_hessian(current, battle, ridge=ridge), gradient[:, :, None])[:, :, 0]
        step *= np.minimum(1.0, MAX_NEWTON_STEP / np.abs(step).max(axis=1))[:, None]
        slope = (gradient * step).sum(axis=1)
        before = _objective(current, battle, score, ridge)
        size = np.ones(active.size)
        pending = np.arange(active.size)
        for _ in range(60):
            trial = current[pending] + size[pending, None] * step[pending]
            after = _objective(trial, battle[pending], score[pending], ridge)
            enough = after >= before[pending] + 1e-4 * size[pending] * slope[pending] - noise[active[pending]]
            pending = pending[~enough]
            if pending.size == 0:
                break
            size[pending] *= 0.5
        update = size[:, None] * step
        stalled[active] = np.abs(update).max(axis=1) <= 1e-15 * (1.0 + np.abs(current).max(axis=1))
        theta[active] = current + update
    converged = norms <= np.maximum(tolerance, floor)
    return LogStrengthFit(
        log_strengths=theta, iterations=iterations, gradient_norms=norms, converged=converged
    )


@dataclass(frozen=True)
class PairTable:
    """The unordered pairs with at least one vote: first < second, and per pair the cells
    [wins of first, wins of second, ties and both-bad]."""

    first: IntArray
    second: IntArray
    cells: IntArray
    contender_count: int

    @property
    def battles(self) -> IntArray:
        return self.cells.sum(axis=1)

    @property
    def scores(self) -> FloatArray:
        return self.cells[:, 0] + 0.5 * self.cells[:, 2]

    # Worked out once per table for all its chunks (threads that race for one get the same result).
    @cached_property
    def draw_plan(self) -> "DrawPlan":
        return plan_draws(self)

    @cached_property
    def layout(self) -> "PairLayout":
        return pair_layout(self)


@dataclass(frozen=True)
class PairLayout:
    """Where a table's pairs go in the n x n matrices, flattened (row first, then column), and the runs
    of pairs that give each contender's total score: as first (pairs come sorted by first), and as
    second once reordered by `second_order`."""

    upper: IntArray
    lower: IntArray
    firsts: IntArray
    first_starts: IntArray
    second_order: IntArray
    seconds: IntArray
    second_starts: IntArray


def pair_layout(table: PairTable) -> PairLayout:
    n = table.contender_count
    firsts, first_starts = np.unique(table.first, return_index=True)
    second_order = np.argsort(table.second, kind="stable")
    seconds, second_starts = np.unique(table.second[second_order], return_index=True)
    return PairLayout(
        upper=table.first * n + table.second,
        lower=table.second * n + table.first,
        firsts=firsts,
        first_starts=first_starts,
        second_order=second_order,
        seconds=seconds,
        second_starts=second_starts,
    )


def pair_table(counts: "PairCounts") -> PairTable:
    first, second = np.triu_indices(counts.contender_count, 1)
    wins, draws = counts.wins_matrix(), counts.draws_matrix()
    cells = np.stack([wins[first, second], wins[second, first], draws[first, second]], axis=1)
    voted = cells.sum(axis=1) > 0
    return PairTable(
        first=first[voted], second=second[voted], cells=cells[voted], contender_count=counts.contender_count
    )


def _standard_normal(rng: np.random.Generator, rows: int, columns: int) -> FloatArray:
    """Standard normals by the (exact) Box-Muller transform: twice as fast here as numpy's ziggurat, the
    angle's cosine and sine being vectorised in float32 (1e-7 relative error, immaterial for noise)."""
    half = (columns + 1) // 2
    radius = rng.random((rows, half))
    np.log1p(-radius, out=radius)  # log(1 - u), u in [0, 1): never log(0)
    np.multiply(radius, -2.0, out=radius)
    np.sqrt(radius, out=radius)
    angle = rng.random((rows, half), dtype=np.float32)
    np.multiply(angle, np.float32(2.0 * np.pi), out=angle)
    normal = np.empty((rows, 2 * half))
    np.multiply(np.cos(angle), radius, out=normal[:, :half])
    np.multiply(np.sin(angle), radius, out=normal[:, half:])
    return normal[:, :columns]


def _poisson_tables(largest: int, guide_bits: int, support: int) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """For exact draws of Poisson(c), c = 1..`largest`: the distribution functions cdf[c - 1, k] =
    P(X <= k), k < support (the last one infinite), and a guide table of 2**guide_bits buckets of [0, 1)
    per c: the draw of every uniform in the bucket or, when a step of the distribution function falls
    inside it, the draw at the bucket's start + GUIDE_AMBIGUOUS."""
    means = np.arange(1, largest + 1, dtype=np.float64)
    mass = np.empty((largest, support))
    mass[:, 0] = np.exp(-means)
    for k in range(1, support):
        mass[:, k] = mass[:, k - 1] * means / k
    cdf = np.cumsum(mass, axis=1)
    cdf[:, -1] = np.inf
    edges = np.arange((1 << guide_bits) + 1) / (1 << guide_bits)
    guide = np.empty((largest, 1 << guide_bits), dtype=np.int8)
    for row, function in enumerate(cdf):
        start = np.searchsorted(function, edges[:-1], side="right")  # the draw at the bucket's start
        end = np.searchsorted(function, edges[1:], side="left")  # the draw just below its end
        guide[row] = np.where(start == end, start, start + GUIDE_AMBIGUOUS)
    return cdf, guide


GUIDE_BITS = 12
# The draws' range, 0..63 (P(X >= 63) < 1e-30 for the counts drawn exactly), and the guide table's mark.
GUIDE_AMBIGUOUS = 64
_POISSON_CDF, _POISSON_GUIDE = _poisson_tables(EXACT_CELL_VOTES - 1, GUIDE_BITS, GUIDE_AMBIGUOUS)


def _poisson_small(rng: np.random.Generator, counts: IntArray, rounds: int) -> npt.NDArray[np.int8]:
    """Poisson(count) draws, (rounds, len(counts)), for counts 1..EXACT_CELL_VOTES - 1, by inversion:
    X = the number of k with P(X <= k) <= u, u being the top 53 bits of a 64-bit random integer over
    2**53 (as numpy makes its uniforms). The top GUIDE_BITS bits pick a bucket of the guide table, which
    settles over 99% of the draws; the others step up the distribution function from the bucket's start."""
    raw = rng.bit_generator.random_raw((rounds, counts.size))
    bucket = np.right_shift(raw, np.uint64(64 - GUIDE_BITS)).view(np.int64)
    bucket += (counts - 1) << GUIDE_BITS
    drawn = _POISSON_GUIDE.take(bucket)
    flat = drawn.reshape(-1)
    ambiguous = np.flatnonzero(flat >= GUIDE_AMBIGUOUS)
    if ambiguous.size:
        uniform = (raw.reshape(-1)[ambiguous] >> np.uint64(11)) * 2.0**-53
        # Index of P(X <= value) in the flattened distribution functions of each draw's count.
        position = (counts[ambiguous % counts.size] - 1) * GUIDE_AMBIGUOUS + flat[ambiguous] - GUIDE_AMBIGUOUS
        functions = _POISSON_CDF.reshape(-1)
        step = np.flatnonzero(functions[position] <= uniform)
        while step.size:
            position[step] += 1
            step = step[functions[position[step]] <= uniform[step]]
        flat[ambiguous] = position % GUIDE_AMBIGUOUS
    return drawn


EMPTY, SMALL, LARGE = 0, 1, 2  # the kinds of cell in the Poisson form


@dataclass(frozen=True)
class CellGroup:
    """Pairs [start, stop) of the draw order whose three cells are of the same kinds; per cell, its
    counts over those pairs (and their square roots: the normal limit's standard deviations)."""

    start: int
    stop: int
    kinds: tuple[int, ...]
    counts: tuple[FloatArray, ...]
    deviations: tuple[FloatArray, ...]


@dataclass(frozen=True)
class DrawPlan:
    """The Poisson form's layout for one pair table, made once for all its chunks. In draw order, the
    pairs without a small cell come first, each drawn as a bivariate normal (battles, score), then the
    others grouped by the kinds of their cells, so that each group's draws are contiguous arrays."""

    order: IntArray  # the table position of each pair, in draw order
    inverse: IntArray | None  # the draw position of each table pair; None when both orders agree
    normal_pairs: int  # the pairs without a small cell, first in draw order; per pair of those:
    battles: FloatArray
    deviation: FloatArray  # sqrt(battles)
    scores: FloatArray
    spread: FloatArray  # the score's regression on the battles' normal draw
    residual: FloatArray  # the score's standard deviation left once the battles are drawn
    groups: tuple[CellGroup, ...]
    large_cells: int  # of the other pairs, drawn per round
    small_counts: IntArray  # the cells drawn exactly, in the order in which the groups take them


def plan_draws(table: PairTable) -> DrawPlan:
    cells = table.cells
    kinds = np.where(cells >= EXACT_CELL_VOTES, LARGE, np.where(cells > 0, SMALL, EMPTY))
    pattern = np.where((kinds == SMALL).any(axis=1), kinds @ np.array([9, 3, 1]), -1)  # -1: normal pair
    order = np.argsort(pattern, kind="stable")
    pattern = pattern[order]
    normal_pairs = int((pattern < 0).sum())
    normal = cells[order[:normal_pairs]].astype(np.float64)
    battles, scores = normal.sum(axis=1), normal[:, 0] + 0.5 * normal[:, 2]
    starts = [
        normal_pairs,
        *(int(change) + normal_pairs + 1 for change in np.flatnonzero(np.diff(pattern[normal_pairs:]))),
    ]
    groups = []
    for start, stop in zip(starts, [*starts[1:], len(order)], strict=True):
        if start == stop:
            continue
        counts = cells[order[start:stop]].T.astype(np.float64)
        groups.append(
            CellGroup(
                start=start,
                stop=stop,
                kinds=tuple(int(kind) for kind in kinds[order[start]]),
                counts=tuple(counts),
                deviations=tuple(np.sqrt(counts)),
            )
        )
    small_counts = [
        cells[order[group.start : group.stop], cell]
        for group in groups
        for cell in range(3)
        if group.kinds[cell] == SMALL
    ]
    in_order = bool((order == np.arange(len(order))).all())
    return DrawPlan(
        order=order,
        inverse=None if in_order else np.argsort(order),
        normal_pairs=normal_pairs,
        battles=battles,
        deviation=np.sqrt(battles),
        scores=scores,
        spread=scores / np.sqrt(battles),
        residual=np.sqrt(np.clip(normal[:, 0] + 0.25 * normal[:, 2] - scores**2 / battles, 0.0, None)),
        groups=tuple(groups),
        large_cells=sum(group.kinds.count(LARGE) * (group.stop - group.start) for group in groups),
        small_counts=np.concatenate([np.zeros(0, dtype=np.int64), *small_counts]).astype(np.int64),
    )


def _poisson_form(rng: np.random.Generator, table: PairTable, rounds: int) -> tuple[FloatArray, FloatArray]:
    """One chunk of the Poisson form's (battles, scores), each (rounds, pairs) in table order: the normal
    pairs' normals, then the small cells, then the large cells' normals, from the chunk's stream."""
    plan = table.draw_plan
    pairs = plan.normal_pairs
    normal = _standard_normal(rng, rounds, 2 * pairs)
    small = _poisson_small(rng, plan.small_counts, rounds)
    large = _standard_normal(rng, rounds, plan.large_cells)
    battles = np.empty((rounds, len(plan.order)))
    scores = np.empty((rounds, len(plan.order)))
    # Pairs without a small cell: (battles, score) from the bivariate normal limit of the three Poisson
    # cells: variances n and w + t/4, covariance w + t/2 = s (w, t the pair's wins of first and draws).
    first, second = normal[:, :pairs], normal[:, pairs:]
    drawn_battles, drawn_scores = battles[:, :pairs], scores[:, :pairs]
    np.multiply(first, plan.spread, out=drawn_scores)
    drawn_scores += plan.scores
    second *= plan.residual
    drawn_scores += second
    first *= plan.deviation
    first += plan.battles
    np.maximum(first, 0.0, out=drawn_battles)
    np.clip(drawn_scores, 0.0, drawn_battles, out=drawn_scores)
    # The others cell by cell: small cells exactly, large ones from N(count, count) clipped at 0.
    large_column, small_column = 0, 0
    for group in plan.groups:
        size = group.stop - group.start
        drawn: list[npt.NDArray[np.float64] | npt.NDArray[np.int8] | None] = []
        for kind, count, deviation in zip(group.kinds, group.counts, group.deviations, strict=True):
            if kind == LARGE:
                cell = large[:, large_column : large_column + size]
                large_column += size
                cell *= deviation
                cell += count
                drawn.append(np.maximum(cell, 0.0, out=cell))
            elif kind == SMALL:
                drawn.append(small[:, small_column : small_column + size])
                small_column += size
            else:
                drawn.append(None)
        drawn_battles = battles[:, group.start : group.stop]
        drawn_scores = scores[:, group.start : group.stop]
        present = [draws for draws in drawn if draws is not None]
        drawn_battles[...] = present[0]
        for draws in present[1:]:
            drawn_battles += draws
        if drawn[2] is None:
            drawn_scores[...] = 0.0 if drawn[0] is None else drawn[0]
        else:
            np.multiply(drawn[2], 0.5, out=drawn_scores)
            if drawn[0] is not None:
                drawn_scores += drawn[0]
    if plan.inverse is None:
        return battles, scores
    return battles.take(plan.inverse, axis=1), scores.take(plan.inverse, axis=1)


def _draws(
    rng: np.random.Generator, table: PairTable, rounds: int, resampling: str
) -> tuple[FloatArray, FloatArray]:
    """One chunk of resampled (battles, scores), each (rounds, pairs)."""
    if resampling == "multinomial":
        shares = table.cells.ravel() / table.cells.sum()
        drawn = rng.multinomial(int(table.cells.sum()), shares, size=rounds).reshape(rounds, -1, 3)
        return drawn.sum(axis=2).astype(np.float64), drawn[:, :, 0] + 0.5 * drawn[:, :, 2]
    return _poisson_form(rng, table, rounds)


def chunk_sizes(table: PairTable, rounds: int, *, chunk_cells: int = CHUNK_CELLS) -> list[int]:
    """How many rounds each chunk holds: as many as keep a chunk's arrays near `chunk_cells` cells."""
    size = max(1, chunk_cells // max(1, table.contender_count**2))
    return [min(size, rounds - start) for start in range(0, rounds, size)]


def _chunk_draws(
    table: PairTable, seed: int, index: int, rounds: int, resampling: str
) -> tuple[FloatArray, FloatArray]:
    # Each chunk has its own stream, seeded by (seed, chunk): the draws do not depend on which
    # thread runs which chunk, or how many threads there are.
    return _draws(np.random.default_rng([seed, index]), table, rounds, resampling)


def resampling_method(
    table: PairTable,
    rounds: int,
    resampling: Resampling = "auto",
    *,
    exact_draw_limit: int = EXACT_DRAW_LIMIT,
) -> str:
    if resampling not in ("auto", "multinomial", "poisson"):
        raise ValueError(f"resampling must be 'auto', 'multinomial' or 'poisson', not {resampling!r}")
    if resampling != "auto":
        return resampling
    return "multinomial" if rounds * table.cells.size <= exact_draw_limit else "poisson"


@dataclass(frozen=True)
class Resamples:
    table: PairTable
    battles: FloatArray  # (rounds, pairs)
    scores: FloatArray  # (rounds, pairs)
    resampling: str


def bootstrap_resamples(
    counts: "PairCounts",
    *,
    rounds: int,
    seed: int,
    resampling: Resampling = "auto",
    exact_draw_limit: int = EXACT_DRAW_LIMIT,
    chunk_cells: int = CHUNK_CELLS,
) -> Resamples:
    """The resampled pair data the bootstrap fits, for inspection and tests (same draws, same order)."""
    table = pair_table(counts)
    method = resampling_method(table, rounds, resampling, exact_draw_limit=exact_draw_limit)
    sizes = chunk_sizes(table, rounds, chunk_cells=chunk_cells)
    chunks = [_chunk_draws(table, seed, index, size, method) for index, size in enumerate(sizes)]
    return Resamples(
        table=table,
        battles=np.concatenate([chunk[0] for chunk in chunks]),
        scores=np.concatenate([chunk[1] for chunk in chunks]),
        resampling=method,
    )


def dense_pairs(table: PairTable, battles: FloatArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-round pair data as (rounds, n, n) battle matrices and (rounds, n) total scores."""
    rounds, n = len(battles), table.contender_count
    layout = table.layout
    matrix = np.zeros((rounds, n * n))
    matrix[:, layout.upper] = battles
    matrix[:, layout.lower] = battles
    totals = np.zeros((rounds, n))
    totals[:, layout.firsts] += np.add.reduceat(scores, layout.first_starts, axis=1)
    against = np.take(battles, layout.second_order, axis=1)
    against -= np.take(scores, layout.second_order, axis=1)
    totals[:, layout.seconds] += np.add.reduceat(against, layout.second_starts, axis=1)
    return matrix.reshape(rounds, n, n), totals


def _fast_gradient(
    theta: FloatArray, battles: FloatArray, scores: FloatArray, ridge: float, work: FloatArray
) -> FloatArray:
    """The batched gradient with one exp per contender instead of one per pair: p_ij = s_i / (s_i + s_j)
    with s = exp(theta - max theta). Non-finite when a round's spread is too wide for that (> ~700)."""
    strength = np.exp(theta - theta.max(axis=1, keepdims=True))
    np.add(strength[:, :, None], strength[:, None, :], out=work)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(battles, work, out=work)
        # einsum's row sums: half the time of sum(axis=2) on rows of a few hundred.
        return scores - strength * np.einsum("rij->ri", work) - ridge * theta


def fit_rounds(
    start: FloatArray,
    battles: FloatArray,
    scores: FloatArray,
    *,
    ridge: float,
    tolerance: float,
    preconditioner: FloatArray | None = None,
    chunk_cells: int = CHUNK_CELLS,
) -> LogStrengthFit:
    """Fit a batch of rounds (battles (rounds, n, n), scores (rounds, n)) from one start (n,): chord
    iterations, then damped Newton for any round they leave behind (module docstring). The
    preconditioner defaults to the inverse negative Hessian at the start of the rounds' mean data.
    The rounds are independent: a large batch is fitted `chunk_cells` cells at a time, whose arrays stay
    near the CPU caches (500 rounds over 260 contenders take about twice as long in one piece)."""
    if preconditioner is None:
        preconditioner = np.linalg.inv(
            negative_hessian(start[None], battles.mean(axis=0)[None], ridge=ridge)[0]
        )
    size = max(1, chunk_cells // max(1, battles.shape[1] ** 2))
    return _joined(
        [
            _fit_chunk(
                start,
                battles[first : first + size],
                scores[first : first + size],
                ridge=ridge,
                tolerance=tolerance,
                preconditioner=preconditioner,
            )
            for first in range(0, max(len(scores), 1), size)
        ]
    )


def _joined(fits: list[LogStrengthFit]) -> LogStrengthFit:
    if len(fits) == 1:
        return fits[0]
    return LogStrengthFit(
        log_strengths=np.concatenate([fit.log_strengths for fit in fits]),
        iterations=np.concatenate([fit.iterations for fit in fits]),
        gradient_norms=np.concatenate([fit.gradient_norms for fit in fits]),
        converged=np.concatenate([fit.converged for fit in fits]),
    )


def _fit_chunk(
    start: FloatArray,
    battles: FloatArray,
    scores: FloatArray,
    *,
    ridge: float,
    tolerance: float,
    preconditioner: FloatArray,
) -> LogStrengthFit:
    rounds = len(scores)
    theta = np.repeat(start[None, :], rounds, axis=0)
    iterations = np.zeros(rounds, dtype=np.int64)
    norms = np.full(rounds, np.inf)
    chord = np.ones(rounds, dtype=bool)  # still iterating
    rows = np.arange(rounds)  # the rounds whose data `battles_now` and `scores_now` hold
    battles_now, scores_now = battles, scores
    work = np.empty_like(battles)
    for iteration in range(MAX_CHORD_ITERATIONS + 1):
        gradient = _fast_gradient(theta[rows], battles_now, scores_now, ridge, work[: len(rows)])
        norm = np.linalg.norm(gradient, axis=1)
        on = chord[rows]
        slow = ~np.isfinite(norm) | ((iteration >= 2) & ~(norm <= 0.5 * norms[rows]))
        norms[rows[on]] = norm[on]
        iterations[rows[on]] = iteration
        chord[rows[on & (slow | (norm <= tolerance))]] = False
        on = chord[rows]
        if not on.any() or iteration == MAX_CHORD_ITERATIONS:
            break
        # einsum, not BLAS: a small product repeated many times, which multithreaded BLAS can make
        # 10x slower when the other cores are busy.
        theta[rows[on]] += np.einsum("rj,jk->rk", gradient[on], preconditioner)
        if on.sum() <= len(rows) // 2:  # stop computing finished rounds once they are the majority
            battles_now, scores_now, rows = battles_now[on], scores_now[on], rows[on]
    converged = norms <= tolerance
    behind = np.flatnonzero(~converged)
    if behind.size:
        restart = theta[behind]
        restart[~np.isfinite(restart).all(axis=1)] = start
        rescue = newton_fit(restart, battles[behind], scores[behind], ridge=ridge, tolerance=tolerance)
        theta[behind] = rescue.log_strengths
        iterations[behind] += rescue.iterations
        norms[behind] = rescue.gradient_norms
        converged[behind] = rescue.converged
    return LogStrengthFit(
        log_strengths=theta, iterations=iterations, gradient_norms=norms, converged=converged
    )


def round_tolerance(hessian: FloatArray, *, ridge: float, tolerance: float) -> float:
    """The gradient norm at which a refit of data close to this Hessian's is within ROUND_ERROR of its
    optimum (module docstring): ROUND_ERROR x the smallest curvature above the ridge's, at least
    `tolerance`."""
    curvatures = np.linalg.eigvalsh(hessian)
    data = curvatures[curvatures > 10.0 * ridge]  # the groups' mean directions have the ridge's alone
    return max(tolerance, ROUND_ERROR * float(data.min())) if data.size else tolerance


def bootstrap_rounds(
    counts: "PairCounts",
    log_strengths: FloatArray,
    *,
    rounds: int,
    seed: int,
    ridge: float,
    tolerance: float,
    resampling: Resampling = "auto",
    exact_draw_limit: int = EXACT_DRAW_LIMIT,
    chunk_cells: int = CHUNK_CELLS,
    workers: int | None = None,
) -> tuple[LogStrengthFit, str]:
    """Refit `rounds` resamples of the counts, starting from the full-data fit, in chunks of about
    `chunk_cells` cells spread over `workers` threads (default: workers_default(); numpy releases the
    GIL, and the results do not depend on `workers`). Also says which resampling was used."""
    table = pair_table(counts)
    method = resampling_method(table, rounds, resampling, exact_draw_limit=exact_draw_limit)
    observed, _ = dense_pairs(table, table.battles[None].astype(np.float64), table.scores[None])
    hessian = negative_hessian(log_strengths[None], observed, ridge=ridge)[0]
    preconditioner = np.linalg.inv(hessian)
    tolerance = round_tolerance(hessian, ridge=ridge, tolerance=tolerance)

    def chunk_fit(index: int, size: int) -> LogStrengthFit:
        matrix, totals = dense_pairs(table, *_chunk_draws(table, seed, index, size, method))
        return fit_rounds(
            log_strengths, matrix, totals, ridge=ridge, tolerance=tolerance, preconditioner=preconditioner
        )

    sizes = chunk_sizes(table, rounds, chunk_cells=chunk_cells)
    threads = workers_default() if workers is None else workers
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(sizes)))) as pool:
        fits = list(pool.map(chunk_fit, range(len(sizes)), sizes))
    return _joined(fits), method
