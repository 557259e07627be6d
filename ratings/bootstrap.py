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
  ignores the counts' overall scale). Cells under EXACT_CELL_VOTES votes are drawn exactly, by numpy's
  Poisson sampler; larger ones from its normal limit N(count, count), clipped at 0 (P < 0.1%), by the
  Box-Muller transform; a pair whose cells are all large or empty gets its (battles, score) from the
  equivalent bivariate normal, two normal draws instead of three. Against the exact multinomial,
  intervals agree to Monte Carlo noise even with pairs of 4 votes; drawing tiny cells from a normal
  instead shrinks intervals by up to 13%.
- "auto" (default): "multinomial" when rounds x cells <= EXACT_DRAW_LIMIT, else "poisson".

Fitting. All rounds of a chunk are fitted at once from the full-data estimate: the iteration
theta <- theta + P g(theta), with g the batched gradient and P the inverse negative Hessian of the
full data at its estimate (a chord Newton method; it gains one to two digits per iteration because every
round is close to the full data), until each round's gradient norm <= the fit's tolerance. A round that
stops gaining a factor of two per iteration (a degenerate resample: say a contender that never lost in
it) is handed to the damped Newton of the single fit, so every round meets the same tolerance.
Chunks of rounds run on a thread per CPU this process may use, at most MAX_WORKERS (numpy releases the
GIL); each chunk draws from its own stream seeded by (seed, chunk index), so the results depend on the
seed alone, not on the threads.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def _normal_pairs(rng: np.random.Generator, cells: FloatArray, rounds: int) -> tuple[FloatArray, FloatArray]:
    """(battles, score) per pair as the bivariate normal limit of its three independent Poisson cells:
    variances n and w + t/4, covariance w + t/2 = s (w, t the pair's wins of first and draws)."""
    battles, scores = cells.sum(axis=1), cells[:, 0] + 0.5 * cells[:, 2]
    residual = np.sqrt(np.clip(cells[:, 0] + 0.25 * cells[:, 2] - scores**2 / battles, 0.0, None))
    normal = _standard_normal(rng, rounds, 2 * len(cells))
    first, second = normal[:, : len(cells)], normal[:, len(cells) :]
    drawn_scores = scores + (scores / np.sqrt(battles)) * first + residual * second
    first *= np.sqrt(battles)
    first += battles
    drawn_battles = np.maximum(first, 0.0, out=first)
    return drawn_battles, np.clip(drawn_scores, 0.0, drawn_battles, out=drawn_scores)


def _poisson_cells(rng: np.random.Generator, cells: FloatArray, rounds: int) -> tuple[FloatArray, FloatArray]:
    """Cell by cell: exact Poisson under EXACT_CELL_VOTES, the normal limit above (empty cells stay 0)."""
    counts = cells.ravel()
    drawn = np.zeros((rounds, counts.size))
    small = np.flatnonzero((counts > 0) & (counts < EXACT_CELL_VOTES))
    large = np.flatnonzero(counts >= EXACT_CELL_VOTES)
    drawn[:, small] = rng.poisson(counts[small], size=(rounds, small.size))
    normal = _standard_normal(rng, rounds, large.size) * np.sqrt(counts[large]) + counts[large]
    drawn[:, large] = np.maximum(normal, 0.0)
    by_pair = drawn.reshape(rounds, -1, 3)
    return by_pair.sum(axis=2), by_pair[:, :, 0] + 0.5 * by_pair[:, :, 2]


def _draws(
    rng: np.random.Generator, table: PairTable, rounds: int, resampling: str
) -> tuple[FloatArray, FloatArray]:
    """One chunk of resampled (battles, scores), each (rounds, pairs)."""
    if resampling == "multinomial":
        shares = table.cells.ravel() / table.cells.sum()
        drawn = rng.multinomial(int(table.cells.sum()), shares, size=rounds).reshape(rounds, -1, 3)
        return drawn.sum(axis=2).astype(np.float64), drawn[:, :, 0] + 0.5 * drawn[:, :, 2]
    cells = table.cells.astype(np.float64)
    exact = ((cells > 0) & (cells < EXACT_CELL_VOTES)).any(axis=1)
    battles = np.empty((rounds, len(cells)))
    scores = np.empty((rounds, len(cells)))
    for pairs, draw in ((~exact, _normal_pairs), (exact, _poisson_cells)):
        if pairs.any():
            battles[:, pairs], scores[:, pairs] = draw(rng, cells[pairs], rounds)
    return battles, scores


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
    matrix = np.zeros((rounds, n, n))
    matrix[:, table.first, table.second] = battles
    matrix[:, table.second, table.first] = battles
    totals = np.zeros((rounds, n))
    # Pairs come sorted by first: each contender's pairs as "first" are one run, summed by reduceat.
    present, starts = np.unique(table.first, return_index=True)
    totals[:, present] += np.add.reduceat(scores, starts, axis=1)
    order = np.argsort(table.second, kind="stable")
    present, starts = np.unique(table.second[order], return_index=True)
    totals[:, present] += np.add.reduceat((battles - scores)[:, order], starts, axis=1)
    return matrix, totals


def _fast_gradient(
    theta: FloatArray, battles: FloatArray, scores: FloatArray, ridge: float, work: FloatArray
) -> FloatArray:
    """The batched gradient with one exp per contender instead of one per pair: p_ij = s_i / (s_i + s_j)
    with s = exp(theta - max theta). Non-finite when a round's spread is too wide for that (> ~700)."""
    strength = np.exp(theta - theta.max(axis=1, keepdims=True))
    np.add(strength[:, :, None], strength[:, None, :], out=work)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(battles, work, out=work)
        return scores - strength * work.sum(axis=2) - ridge * theta


def fit_rounds(
    start: FloatArray,
    battles: FloatArray,
    scores: FloatArray,
    *,
    ridge: float,
    tolerance: float,
    preconditioner: FloatArray | None = None,
) -> LogStrengthFit:
    """Fit a batch of rounds (battles (rounds, n, n), scores (rounds, n)) from one start (n,): chord
    iterations, then damped Newton for any round they leave behind (module docstring). The
    preconditioner defaults to the inverse negative Hessian at the start of the rounds' mean data."""
    rounds = len(scores)
    theta = np.repeat(start[None, :], rounds, axis=0)
    if preconditioner is None:
        preconditioner = np.linalg.inv(
            negative_hessian(start[None], battles.mean(axis=0)[None], ridge=ridge)[0]
        )
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
    preconditioner = np.linalg.inv(negative_hessian(log_strengths[None], observed, ridge=ridge)[0])

    def chunk_fit(index: int, size: int) -> LogStrengthFit:
        matrix, totals = dense_pairs(table, *_chunk_draws(table, seed, index, size, method))
        return fit_rounds(
            log_strengths, matrix, totals, ridge=ridge, tolerance=tolerance, preconditioner=preconditioner
        )

    sizes = chunk_sizes(table, rounds, chunk_cells=chunk_cells)
    threads = workers_default() if workers is None else workers
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(sizes)))) as pool:
        fits = list(pool.map(chunk_fit, range(len(sizes)), sizes))
    fit = LogStrengthFit(
        log_strengths=np.concatenate([chunk.log_strengths for chunk in fits]),
        iterations=np.concatenate([chunk.iterations for chunk in fits]),
        gradient_norms=np.concatenate([chunk.gradient_norms for chunk in fits]),
        converged=np.concatenate([chunk.converged for chunk in fits]),
    )
    return fit, method
