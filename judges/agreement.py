"""How far an LLM judge agrees with the arena's human voters. numpy only, no Django, deterministic.

An LLM judge is cheaper than human votes but only worth using where it agrees with them: this module
measures that agreement on the battles both have judged.

Conventions. A judge's score is in the battle's own orientation: +2 A much better, +1 A better, 0 tie,
-1 B better, -2 B much better. The judge sees each battle twice, `as_shown` and `swapped` (answers
presented B first, its score already mapped back to the battle's orientation, so that an unbiased judge
gives the same sign twice). Human labels are +1 (A better), -1 (B better), 0 (a tie, or both bad).

Definitions.
- The judge's label of a battle is sign(as_shown + swapped): a judge whose two readings disagree in
  direction but not in strength (+1 and -1) has no position-independent preference, so it says tie;
  a strong reading outweighs a weak opposite one (+2 and -1 gives A).
- Agreement share: the share of battles whose judge and human labels are equal. Cohen's kappa,
  (p_o - p_e) / (1 - p_e) over the 3x3 confusion of labels, p_o that share and p_e the agreement
  expected by chance from each side's label frequencies, goes next to it because a judge that always
  says "A" agrees with humans as often as they pick A, yet tells us nothing: its kappa is 0.
- Flip rate: the share of battles where sign(as_shown) != sign(swapped), the judge's position bias
  (a change between a side and a tie counts too).
- Longer-win share: among battles with a decisive label and answers of different lengths, the share
  the longer answer won: the verbosity bias, to compare between the judge and the humans.
- Board correlation: Spearman's rho (Pearson correlation of average ranks) weighs large displacements
  on the leaderboard more; Kendall's tau-b counts pairs of contenders put in opposite orders, with
  ties corrected for as in scipy.stats.kendalltau's default.
Every measure is None where it is undefined (no battles, a constant side), rather than nan or 0,
so that "no evidence" is never mistaken for "no agreement".
"""

from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Rows of x compared with all of x at a time in Kendall's tau: bounds memory at 2 x 1024 x n floats.
_KENDALL_BLOCK = 1024


def _reals(values: npt.ArrayLike, name: str) -> FloatArray:
    """`values` as a 1-D float64 array of finite numbers."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {array.ndim} dimensions")
    # An empty list is a valid empty input whatever dtype numpy gives it.
    if array.size and array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    result = array.astype(np.float64)
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{name} must hold finite numbers")
    return result


def _integers(values: npt.ArrayLike, name: str, low: int, high: int) -> IntArray:
    """`values` as a 1-D int64 array, checked to hold whole numbers within [low, high]."""
    array = _reals(values, name)
    if not np.all(array == np.round(array)):
        raise ValueError(f"{name} must hold whole numbers")
    if array.size and (array.min() < low or array.max() > high):
        raise ValueError(f"{name} must lie within {low}..{high}, got {array.min():g}..{array.max():g}")
    return array.astype(np.int64)


_scores = partial(_integers, low=-2, high=2)  # a judge's score, -2 (B much better) .. +2 (A much better)
_labels = partial(_integers, low=-1, high=1)  # a label, also `longer`: -1 (B), 0 (tie, same), +1 (A)


def _same_length(**arrays: npt.NDArray[np.generic]) -> int:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"the arrays must have equal lengths: {described}")
    return next(iter(lengths.values()))


def combined_verdict(as_shown: npt.ArrayLike, swapped: npt.ArrayLike) -> IntArray:
    """The judge's label per battle, sign(as_shown + swapped), in {-1, 0, 1}."""
    shown, other = _scores(as_shown, "as_shown"), _scores(swapped, "swapped")
    _same_length(as_shown=shown, swapped=other)
    verdict: IntArray = np.sign(shown + other)
    return verdict


def agreement_share(judge: npt.ArrayLike, human: npt.ArrayLike) -> float | None:
    """The share of battles whose judge and human labels are equal; None without battles."""
    j, h = _labels(judge, "judge"), _labels(human, "human")
    if _same_length(judge=j, human=h) == 0:
        return None
    return float(np.mean(j == h))


def _confusion(judge: IntArray, human: IntArray) -> IntArray:
    """Battle counts, rows the judge's label -1/0/1, columns the human's."""
    cells = 3 * (judge + 1) + (human + 1)
    return np.bincount(cells, minlength=9).astype(np.int64).reshape(3, 3)


def cohen_kappa(judge: npt.ArrayLike, human: npt.ArrayLike) -> float | None:
    """Cohen's kappa of the labels; None without battles or when chance agreement p_e is 1."""
    j, h = _labels(judge, "judge"), _labels(human, "human")
    n = _same_length(judge=j, human=h)
    if n == 0:
        return None
    confusion = _confusion(j, h)
    # In whole numbers, so the p_e == 1 test is exact and big counts cannot overflow int64:
    # kappa = (n * agreed - chance) / (n² - chance), chance = sum of row total x column total.
    agreed = int(np.trace(confusion))
    rows, columns = confusion.sum(axis=1).tolist(), confusion.sum(axis=0).tolist()
    chance: int = sum(r * c for r, c in zip(rows, columns, strict=True))
    if chance == n * n:
        return None
    return (n * agreed - chance) / (n * n - chance)


def _paired_reals(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray] | None:
    """Both as float arrays, or None when a correlation is undefined (< 2 pairs, a side constant)."""
    xs, ys = _reals(x, "x"), _reals(y, "y")
    if _same_length(x=xs, y=ys) < 2 or np.all(xs == xs[0]) or np.all(ys == ys[0]):
        return None
    return xs, ys


def _average_ranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n, tied values sharing the mean of the ranks they span (as scipy.stats.rankdata)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts_group) - 1
    first = np.flatnonzero(starts_group)
    last = np.concatenate((first[1:], [len(values)])) - 1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((first + last) / 2.0 + 1.0)[group]
    return ranks


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks; None if < 2 pairs or a side constant."""
    paired = _paired_reals(x, y)
    if paired is None:
        return None
    dx, dy = (ranks - ranks.mean() for ranks in map(_average_ranks, paired))
    rho = float(np.dot(dx, dy) / np.sqrt(np.dot(dx, dx) * np.dot(dy, dy)))
    # Rounding can push a perfect correlation a hair past 1.
    return min(1.0, max(-1.0, rho))


def _tied_pairs(values: FloatArray) -> int:
    counts = np.unique(values, return_counts=True)[1]
    return int(np.sum(counts * (counts - 1)) // 2)


def kendall_tau_b(x: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Kendall's tau-b, (C - D) / sqrt((n0 - ties x) (n0 - ties y)); None if < 2 pairs or a side constant.

    C and D count concordant and discordant pairs, n0 = n (n - 1) / 2 all pairs, ties x and ties y the
    pairs tied in x and in y. Exact O(n²), meant for leaderboards of up to a few thousand contenders.
    """
    paired = _paired_reals(x, y)
    if paired is None:
        return None
    xs, ys = paired
    n = len(xs)
    # Summed over ordered pairs, sign(dx) sign(dy) counts every unordered pair twice: 2 (C - D).
    twice_excess = 0
    for start in range(0, n, _KENDALL_BLOCK):
        stop = start + _KENDALL_BLOCK
        signs_x = np.sign(xs[start:stop, None] - xs[None, :])
        signs_y = np.sign(ys[start:stop, None] - ys[None, :])
        twice_excess += int(np.sum(signs_x * signs_y))
    pairs = n * (n - 1) // 2
    denominator = float(np.sqrt(float(pairs - _tied_pairs(xs)) * float(pairs - _tied_pairs(ys))))
    return min(1.0, max(-1.0, twice_excess / 2 / denominator))


def flip_rate(as_shown: npt.ArrayLike, swapped: npt.ArrayLike) -> float | None:
    """The share of battles where sign(as_shown) != sign(swapped); None without battles."""
    shown, other = _scores(as_shown, "as_shown"), _scores(swapped, "swapped")
    if _same_length(as_shown=shown, swapped=other) == 0:
        return None
    return float(np.mean(np.sign(shown) != np.sign(other)))


def longer_win_share(longer: npt.ArrayLike, verdict: npt.ArrayLike) -> float | None:
    """Among decisive verdicts on answers of different lengths, the share the longer answer won.

    `longer` is +1 when A's answer is the longer, -1 when B's is, 0 when they are as long; `verdict` is
    a label in {-1, 0, 1}. None when no battle is both decisive and of unequal lengths.
    """
    lengths, verdicts = _labels(longer, "longer"), _labels(verdict, "verdict")
    _same_length(longer=lengths, verdict=verdicts)
    counted = (verdicts != 0) & (lengths != 0)
    if not np.any(counted):
        return None
    return float(np.mean(verdicts[counted] == lengths[counted]))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Agreement:
    """The judge against the humans over the same battles (see the module's docstring)."""

    battles: int
    agree_share: float | None
    kappa: float | None
    flip_rate: float | None
    judge_longer_share: float | None
    human_longer_share: float | None
    # Battle counts: rows the judge's label -1/0/1, columns the human's -1/0/1.
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, int | float | list[list[int]] | None]:
        """JSON-ready values, the shares rounded to 4 decimals."""
        return {
            "battles": self.battles,
            "agree_share": _rounded(self.agree_share),
            "kappa": _rounded(self.kappa),
            "flip_rate": _rounded(self.flip_rate),
            "judge_longer_share": _rounded(self.judge_longer_share),
            "human_longer_share": _rounded(self.human_longer_share),
            "confusion": [list(row) for row in self.confusion],
        }


def agreement(
    as_shown: npt.ArrayLike, swapped: npt.ArrayLike, human: npt.ArrayLike, longer: npt.ArrayLike
) -> Agreement:
    """Every measure over the given battles, the judge's label being `combined_verdict`."""
    shown, other = _scores(as_shown, "as_shown"), _scores(swapped, "swapped")
    humans, lengths = _labels(human, "human"), _labels(longer, "longer")
    n = _same_length(as_shown=shown, swapped=other, human=humans, longer=lengths)
    judge = combined_verdict(shown, other)
    return Agreement(
        battles=n,
        agree_share=agreement_share(judge, humans),
        kappa=cohen_kappa(judge, humans),
        flip_rate=flip_rate(shown, other),
        judge_longer_share=longer_win_share(lengths, judge),
        human_longer_share=longer_win_share(lengths, humans),
        confusion=_confusion(judge, humans).tolist(),
    )


def board_correlation(
    judge_ratings: dict[int, float], human_ratings: dict[int, float]
) -> dict[str, float | int | None]:
    """Spearman's rho and Kendall's tau-b of two leaderboards over the contenders rated on both."""
    # Sorted: rho and tau do not depend on the order, but float sums do, in the last bit.
    common = sorted(judge_ratings.keys() & human_ratings.keys())
    x = np.array([judge_ratings[c] for c in common], dtype=np.float64)
    y = np.array([human_ratings[c] for c in common], dtype=np.float64)
    return {
        "contenders": len(common),
        "spearman": _rounded(spearman(x, y)),
        "kendall": _rounded(kendall_tau_b(x, y)),
    }
