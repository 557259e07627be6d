"""Pair counts and the Bradley-Terry fit: numpy arrays in, numpy arrays out, no Django, deterministic.

The model, its ridge and its flags are described in ratings/algorithms.py, which names everything
defined here as part of the rating math's API.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ratings.bootstrap import FloatArray, IntArray, newton_fit

BoolArray = npt.NDArray[np.bool_]

# The rating scale: Chatbot Arena's Elo scale (online Elo's K is with online Elo, in ratings/algorithms.py).
ELO_BASE = 10.0
ELO_SCALE = 400.0
ELO_INITIAL = 1000.0


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
