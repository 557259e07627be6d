"""Rating math: numpy arrays in, numpy arrays out. No Django, no I/O, deterministic.

Contenders are numbered 0..n-1 by the caller. A battle is (index of A, index of B, score of A), the
score being 1 when A won, 0 when B won and 0.5 for a tie or "both are bad".
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

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
