"""Adaptive pairing against the weighted drawing, in a simulated arena (numpy only, no database).

30 contenders with known Bradley–Terry strengths, some neighbours close and some far apart (gaps of
4 to 80 points, 831 from first to last). Voters
follow Bradley–Terry with Davidson's ties (15% of votes between equal contenders, fewer between distant
ones; about 12% in all; half a win each way in the fit). Votes arrive one
at a time, drawn by the policy from the board of the last refit; the board is refitted every
REFIT_VOTES votes with the project's own fit (ratings.algorithms: bradley_terry and
sandwich_intervals). A run stops at the first refit where every pair of rank neighbours (in the
board's order) is resolved: its two 95% intervals are apart, or the 95% interval of its rating
difference (from the sandwich covariance) is narrower than ±TARGET_HALF_WIDTH points. The figures
ending in _each_interval read each contender's own interval instead (both neighbours' half-widths
under TARGET_HALF_WIDTH): the same runs' first refit meeting that reading.

Weighted drawing is what battle_draw does without adaptive pairing: two successive picks without
replacement by draw weight (sampling weight 1 × the fading boost of contender_draw_weights).
Adaptive pairing is battles/pairing.py with its default settings: a draw explores (the weighted
drawing) with the exploration share, and otherwise takes a pair from the floor and information parts.
"""

import statistics
import time
from dataclasses import dataclass

import numpy as np

from battles.pairing import POLICY_ADAPTIVE, POLICY_WEIGHTED, PairingSettings, pair_distribution
from ratings.algorithms import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    Z_95,
    PairCounts,
    bradley_terry,
    sandwich_intervals,
)
from tests.benchmarks.conftest import report

CONTENDERS = 30
# Gaps between neighbours in rating points, repeated: close (4-15), middling (25-40), far (60-80).
GAP_PATTERN = (4, 40, 12, 60, 6, 25, 80, 10, 30, 15)
# Davidson's ties: between equal contenders this share of votes is a tie, fewer between distant ones;
# decisive votes follow Bradley–Terry exactly.
TIE_SHARE_LEVEL = 0.15
DAVIDSON_NU = 2.0 * TIE_SHARE_LEVEL / (1.0 - TIE_SHARE_LEVEL)
REFIT_VOTES = 200
TARGET_HALF_WIDTH = 25.0
VOTE_CAP = 150_000
RUNS = 20
# The fading boost of contender_draw_weights, at the project's defaults.
BOOST = 3.0
BOOST_UNTIL_VOTES = 100


def true_ratings() -> np.ndarray:
    gaps = np.resize(np.array(GAP_PATTERN, dtype=np.float64), CONTENDERS - 1)
    ratings = np.concatenate([[0.0], np.cumsum(gaps)])
    return ratings - ratings.mean() + 1000.0


@dataclass
class Board:
    ratings: np.ndarray
    standard_errors: np.ndarray
    low: np.ndarray
    high: np.ndarray
    covariance: np.ndarray
    votes: np.ndarray  # per contender


def board_fit(counts: np.ndarray) -> Board:
    pair_counts = PairCounts(counts=counts)
    fit = bradley_terry(pair_counts)
    sandwich = sandwich_intervals(pair_counts, fit)
    return Board(
        ratings=fit.ratings,
        standard_errors=sandwich.standard_errors,
        low=sandwich.low,
        high=sandwich.high,
        covariance=sandwich.covariance,
        votes=pair_counts.totals().votes,
    )


def neighbours_resolved(board: Board) -> tuple[bool, bool]:
    """(every neighbour gap resolved by separation or by its difference's interval, the same with
    each contender's own interval instead of the difference's)."""
    order = np.argsort(board.ratings, kind="stable")
    upper, lower = order[1:], order[:-1]
    separated = board.low[upper] > board.high[lower]
    cov = board.covariance
    difference_sd = np.sqrt(np.clip(cov[upper, upper] + cov[lower, lower] - 2 * cov[upper, lower], 0, None))
    difference_precise = Z_95 * difference_sd < TARGET_HALF_WIDTH
    half_widths = Z_95 * board.standard_errors
    each_precise = (half_widths[upper] < TARGET_HALF_WIDTH) & (half_widths[lower] < TARGET_HALF_WIDTH)
    return bool((separated | difference_precise).all()), bool((separated | each_precise).all())


def draw_weights(board: Board | None) -> np.ndarray:
    votes = np.zeros(CONTENDERS) if board is None else board.votes
    return 1.0 + BOOST * np.clip(1.0 - votes / BOOST_UNTIL_VOTES, 0.0, None)


def weighted_pair(weights: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """Two successive picks without replacement by weight, as battle_draw does."""
    first = int(rng.choice(CONTENDERS, p=weights / weights.sum()))
    rest = weights.copy()
    rest[first] = 0.0
    return first, int(rng.choice(CONTENDERS, p=rest / rest.sum()))


def vote_outcome(strengths: np.ndarray, a: int, b: int, rng: np.random.Generator) -> int:
    win_a = 1.0 / (1.0 + 10.0 ** ((strengths[b] - strengths[a]) / 400.0))
    tie = DAVIDSON_NU * np.sqrt(win_a * (1.0 - win_a))
    if rng.random() < tie / (1.0 + tie):
        return OUTCOME_TIE
    return OUTCOME_A if rng.random() < win_a else OUTCOME_B


@dataclass
class RunResult:
    votes_difference: int  # votes until resolved, reading the difference's interval
    votes_each: int  # reading each contender's interval
    pairs_below_floor: list[int]  # pairs with fewer votes than the floor, at each of the two stops
    ties_share: float


def simulate(policy: str, seed: int) -> RunResult:
    rng = np.random.default_rng(seed)
    strengths = true_ratings()
    settings = PairingSettings(policy=policy)
    counts = np.zeros((CONTENDERS, CONTENDERS, 4), dtype=np.int64)
    board: Board | None = None
    found: dict[str, int] = {}
    below_floor: list[int] = []
    ties = 0
    ids = list(range(CONTENDERS))
    votes = 0
    while votes < VOTE_CAP and len(found) < 2:
        weights = draw_weights(board)
        distribution = None
        if board is not None and policy == POLICY_ADAPTIVE:
            distribution = pair_distribution(
                contender_ids=ids,
                ratings=board.ratings,
                standard_errors=board.standard_errors,
                pair_votes=counts.sum(axis=2) + counts.sum(axis=2).T,
                draw_weights=weights,
                settings=settings,
            )
        for _ in range(REFIT_VOTES):
            if distribution is None or rng.random() < distribution.shares.exploration:
                a, b = weighted_pair(weights, rng)
            else:
                pair = int(rng.choice(len(distribution.focused), p=distribution.focused))
                a, b = int(distribution.first[pair]), int(distribution.second[pair])
            if rng.random() < 0.5:
                a, b = b, a
            outcome = vote_outcome(strengths, a, b, rng)
            ties += outcome == OUTCOME_TIE
            counts[a, b, outcome] += 1
        votes += REFIT_VOTES
        board = board_fit(counts)
        pair_votes = counts.sum(axis=2) + counts.sum(axis=2).T
        first, second = np.triu_indices(CONTENDERS, k=1)
        for reading, done in zip(("difference", "each"), neighbours_resolved(board), strict=True):
            if done and reading not in found:
                found[reading] = votes
                below_floor.append(int((pair_votes[first, second] < settings.pair_floor).sum()))
    return RunResult(
        votes_difference=found.get("difference", VOTE_CAP),
        votes_each=found.get("each", VOTE_CAP),
        pairs_below_floor=below_floor,
        ties_share=ties / max(votes, 1),
    )


def test_bench_adaptive_pairing_needs_fewer_votes():
    weighted = [simulate(POLICY_WEIGHTED, seed) for seed in range(RUNS)]
    adaptive = [simulate(POLICY_ADAPTIVE, seed) for seed in range(RUNS)]
    for name, runs in (("weighted", weighted), ("adaptive", adaptive)):
        print(
            f"\n{name}: difference {sorted(run.votes_difference for run in runs)}"
            f"\n{name}: each {sorted(run.votes_each for run in runs)}"
            f"\n{name}: ties {statistics.mean(run.ties_share for run in runs):.3f}",
            flush=True,
        )
    assert all(run.votes_difference < VOTE_CAP and run.votes_each < VOTE_CAP for run in weighted + adaptive)
    # The coverage floor holds wherever adaptive pairing stops.
    assert [run.pairs_below_floor for run in adaptive] == [[0, 0]] * RUNS
    for reading, votes_of in (
        ("difference", lambda run: run.votes_difference),
        ("each", lambda run: run.votes_each),
    ):
        weighted_median = statistics.median(votes_of(run) for run in weighted)
        adaptive_median = statistics.median(votes_of(run) for run in adaptive)
        saved = 100.0 * (1.0 - adaptive_median / weighted_median)
        suffix = "" if reading == "difference" else "_each_interval"
        report(f"weighted_votes_median{suffix}", weighted_median, "votes")
        report(f"adaptive_votes_median{suffix}", adaptive_median, "votes")
        report(f"adaptive_votes_saved_percent{suffix}", saved, "%")


def test_bench_pairing_distribution_at_260_contenders():
    """One call of the policy over 260 contenders (the pool keeps its result for a few seconds)."""
    n = 260
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 60, (n, n))
    votes = np.triu(votes, 1) + np.triu(votes, 1).T
    arguments = {
        "contender_ids": list(range(n)),
        "ratings": rng.normal(1000.0, 60.0, n),  # crowded: nearly every neighbour gap is open
        "standard_errors": rng.uniform(5.0, 40.0, n),
        "pair_votes": votes,
        "draw_weights": np.ones(n),
        "settings": PairingSettings(),
    }
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        pair_distribution(**arguments)
        timings.append(time.perf_counter() - started)
    report("pairing_distribution_260_contenders_ms", 1000 * statistics.median(timings), "ms")
