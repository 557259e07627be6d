"""Decoding variance: how much of a contender's rating uncertainty comes from which of its answers were
sampled. numpy only, no Django, deterministic given a seed.

A contender can keep several answers (samples, say with different seeds) to the same question; each vote
is on one answer of each side. Two bootstraps of the ratings are set side by side:

- Over samples. The answers of each (question, contender) group that appear in the votes, m of them,
  are redrawn with replacement: multiplicities ~ Multinomial(m; 1/m, ..., 1/m), independently per group
  and round (a group of one answer always keeps it once). A vote weighs the product of its two answers'
  multiplicities (1 on average), and each round refits the weighted pair data (`fit_rounds`, all rounds
  at once, from the full fit with its inverse Hessian as preconditioner).
- Over votes: the board's own bootstrap (`bootstrap_intervals` on the same votes' pair counts: the
  multinomial resampling of the votes, or its Poisson form on large data), same seed and rounds.

Per contender both give the standard deviation of the rating over the rounds and the 95% half-width
(half the 2.5-97.5 percentile range, as the board's intervals), in rating points on the fit's scale.

variance_ratio = sample variance / vote variance, and share = variance_ratio capped to [0, 1]. Read
them against null_ratio: redrawing answers also redraws the votes on them, so the sample bootstrap moves
a rating even when the samples to a question do not differ at all. To first order (each vote's influence
psi_v on the rating, H^-1 taken as in `sandwich_intervals`) the ratio is then
    null_ratio = sum_v Var(w_v) psi_v^2 / sum_v psi_v^2,   Var(w_v) = (2 - 1/m_a)(2 - 1/m_b) - 1,
the variance of the vote's weight (E[M^2] = 2 - 1/m for a group of m): 0 when both its answers are alone
in their groups, 1/2 for one answer of two against a lone answer, up to 3; so the ratio can pass 1 even
then. excess_ratio = variance_ratio - null_ratio is what the samples' own differences in quality add:
near 0 when they do not differ, negative when they differ less than independent votes would, clearly
positive when they do differ, and then the vote bootstrap's intervals, which take the votes as
independent, understate the contender's uncertainty. Each variance carries a Monte Carlo error of about
sqrt(2 / rounds) of itself (10% at 200 rounds), so an excess_ratio within a few tenths of 0 is noise.
When answers have about one vote each, answer effects cannot be told from vote noise, and the ratio
stays near null_ratio.

All the sample numbers are NaN for a contender that never has two answers or more to one question in the
votes (`has_samples` False: nothing of its own to redraw), and the ratios also where the vote bootstrap
does not move the rating.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ratings.bootstrap import FloatArray, IntArray, fit_rounds, negative_hessian, win_probabilities
from ratings.bradley_terry import (
    RATING_PER_LOG_STRENGTH,
    BoolArray,
    BradleyTerryFit,
    PairCounts,
    ratings_from_log_strengths,
    score_of_outcome,
)
from ratings.intervals import bootstrap_intervals, identification_matrix

DEFAULT_ROUNDS = 200
ROUNDS_PER_STREAM = 16  # the sample bootstrap draws each run of this many rounds from a stream of its own
SAMPLE_STREAM = 1  # tells the sample bootstrap's streams apart from the vote bootstrap's (same seed)
SCORES = np.array([0.0, 0.5, 1.0])  # a vote's score for the pair's first contender, by class


@dataclass(frozen=True)
class SampledVotes:
    """One entry per vote: the contenders on each side (0..contender_count-1), the outcome (OUTCOME_*
    codes), the answer shown on each side (any ids; an answer belongs to one group) and each answer's
    group: any id of its (question, contender), a group belonging to one contender."""

    side_a: IntArray
    side_b: IntArray
    outcome: IntArray
    answer_a: npt.NDArray[np.generic]
    answer_b: npt.NDArray[np.generic]
    group_a: npt.NDArray[np.generic]
    group_b: npt.NDArray[np.generic]
    contender_count: int

    def counts(self) -> PairCounts:
        return PairCounts.from_votes(self.side_a, self.side_b, self.outcome, self.contender_count)


@dataclass(frozen=True)
class _Layout:
    """The votes arranged for the sample bootstrap."""

    answers: npt.NDArray[np.generic]  # the distinct answer ids, sorted
    drawn: IntArray  # the answers of groups of two or more, by group: indices into `answers`
    slot_start: IntArray  # per drawn answer, the position in `drawn` of its group's first answer
    slot_size: IntArray  # per drawn answer, its group's size m
    has_samples: BoolArray  # per contender
    first: IntArray  # per pair with votes: the lower contender index
    second: IntArray
    fixed_battles: FloatArray  # per pair, the votes between two answers alone in their groups (weight 1)
    fixed_scores: FloatArray  # first's score in them
    vote_a: IntArray  # per other vote, sorted by pair: position in `drawn`, or len(drawn) for weight 1
    vote_b: IntArray
    vote_score: FloatArray  # first's score
    vote_pairs: IntArray  # the pairs those votes are in (indices into first/second), each once
    vote_starts: IntArray  # where each of those pairs' votes start
    class_votes: FloatArray  # (pairs, 3): votes per pair and class of first's score (SCORES)
    class_weight_variance: FloatArray  # (pairs, 3): the sum of those votes' weight variances


def _labels(values: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.generic], IntArray]:
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.astype(np.int64).ravel()


def _owner(
    member: IntArray, owner: IntArray, names: npt.NDArray[np.generic], what: str, whose: str
) -> IntArray:
    """The owner of each member (named by `names`), checking that no member has two."""
    owners = np.zeros(len(names), dtype=np.int64)
    owners[member] = owner
    if (bad := np.flatnonzero(owners[member] != owner)).size:
        raise ValueError(f"{what} {names[member[bad[0]]]} belongs to more than one {whose}")
    return owners


def _layout(votes: SampledVotes) -> _Layout:
    n, count = votes.contender_count, len(votes.side_a)
    side_a, side_b = np.asarray(votes.side_a, dtype=np.int64), np.asarray(votes.side_b, dtype=np.int64)
    columns = (votes.answer_a, votes.answer_b, votes.group_a, votes.group_b)
    if any(np.shape(column) != (count,) for column in columns):
        raise ValueError("answer_a, answer_b, group_a and group_b must have one entry per vote")
    answers, answer = _labels(np.concatenate([votes.answer_a, votes.answer_b]))
    groups, group = _labels(np.concatenate([votes.group_a, votes.group_b]))
    answer_group = _owner(answer, group, answers, "answer", "group")
    group_contender = _owner(group, np.concatenate([side_a, side_b]), groups, "group", "contender")
    size = np.bincount(answer_group, minlength=len(groups))
    has_samples = np.bincount(group_contender[size >= 2], minlength=n) > 0

    # The answers to redraw, by group: a group's m answers take m draws among them per round.
    drawn = np.flatnonzero(size[answer_group] >= 2)
    drawn = drawn[np.argsort(answer_group[drawn], kind="stable")]
    slot_start = np.searchsorted(answer_group[drawn], answer_group[drawn])
    position = np.full(len(answers), drawn.size)  # answers alone in their group: past the end
    position[drawn] = np.arange(drawn.size)
    vote_a, vote_b = position[answer[:count]], position[answer[count:]]

    first, second = np.minimum(side_a, side_b), np.maximum(side_a, side_b)
    score = score_of_outcome(np.asarray(votes.outcome))
    score = np.where(side_a == first, score, 1.0 - score)  # the lower index's score
    pairs = np.flatnonzero(np.bincount(first * n + second, minlength=n * n))  # first * n + second
    pair = np.searchsorted(pairs, first * n + second)
    fixed = (vote_a == drawn.size) & (vote_b == drawn.size)
    varying = np.flatnonzero(~fixed)
    varying = varying[np.argsort(pair[varying], kind="stable")]
    vote_pairs, vote_starts = np.unique(pair[varying], return_index=True)

    # A vote's weight M_a M_b: independent multiplicities, E[M^2] = 2 - 1/m, so Var = product - 1.
    square = 2.0 - 1.0 / size[answer_group[answer]]
    weight_variance = square[:count] * square[count:] - 1.0
    cell = pair * 3 + np.rint(2 * score).astype(np.int64)
    cells = 3 * len(pairs)
    return _Layout(
        answers=answers,
        drawn=drawn,
        slot_start=slot_start,
        slot_size=size[answer_group[drawn]],
        has_samples=has_samples,
        first=np.asarray(pairs // max(n, 1), dtype=np.int64),
        second=np.asarray(pairs % max(n, 1), dtype=np.int64),
        fixed_battles=np.bincount(pair[fixed], minlength=len(pairs)).astype(np.float64),
        fixed_scores=np.bincount(pair[fixed], weights=score[fixed], minlength=len(pairs)).astype(np.float64),
        vote_a=vote_a[varying],
        vote_b=vote_b[varying],
        vote_score=score[varying],
        vote_pairs=vote_pairs.astype(np.int64),
        vote_starts=vote_starts.astype(np.int64),
        class_votes=np.bincount(cell, minlength=cells).reshape(-1, 3).astype(np.float64),
        class_weight_variance=np.bincount(cell, weights=weight_variance, minlength=cells)
        .reshape(-1, 3)
        .astype(np.float64),
    )


def _stream(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SAMPLE_STREAM, index)))


def _chunks(rounds: int) -> list[tuple[int, int]]:
    """(stream index, rounds) of each run of rounds drawn from one stream."""
    starts = range(0, rounds, ROUNDS_PER_STREAM)
    return [(index, min(ROUNDS_PER_STREAM, rounds - start)) for index, start in enumerate(starts)]


def _multiplicities(layout: _Layout, seed: int, index: int, rounds: int) -> FloatArray:
    """(rounds, len(drawn) + 1): how often each drawn answer is drawn in each round from stream `index`;
    the last column, for the answers alone in their group, is 1. Each drawn answer stands for one of its
    group's m draws: a uniform pick among the group's answers (drawn for all groups of one size at once)."""
    slots = layout.drawn.size
    rng = _stream(seed, index)
    picks = np.empty((rounds, slots), dtype=np.int64)
    for size in np.unique(layout.slot_size).tolist():
        columns = np.flatnonzero(layout.slot_size == size)
        picks[:, columns] = layout.slot_start[columns] + rng.integers(0, size, size=(rounds, columns.size))
    picks += (np.arange(rounds) * (slots + 1))[:, None]
    counts = np.bincount(picks.ravel(), minlength=rounds * (slots + 1)).reshape(rounds, slots + 1)
    counts[:, slots] = 1
    return counts.astype(np.float64)


def _pair_data(layout: _Layout, multiplicity: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per round and pair with votes, the weighted battles and first's weighted score."""
    rounds = len(multiplicity)
    battles = np.repeat(layout.fixed_battles[None], rounds, axis=0)
    scores = np.repeat(layout.fixed_scores[None], rounds, axis=0)
    if layout.vote_a.size:
        weight = multiplicity[:, layout.vote_a]
        weight *= multiplicity[:, layout.vote_b]
        battles[:, layout.vote_pairs] += np.add.reduceat(weight, layout.vote_starts, axis=1)
        weight *= layout.vote_score
        scores[:, layout.vote_pairs] += np.add.reduceat(weight, layout.vote_starts, axis=1)
    return battles, scores


@dataclass(frozen=True)
class SampleResamples:
    """The sample bootstrap's draws, for inspection and tests: the ones `decoding_variance` fits."""

    answers: npt.NDArray[np.generic]  # the distinct answer ids, sorted
    multiplicities: IntArray  # (rounds, answers)
    first: IntArray  # per pair with votes: the lower contender index
    second: IntArray
    battles: FloatArray  # (rounds, pairs): the weighted votes between first and second
    scores: FloatArray  # (rounds, pairs): first's weighted score


def sample_resamples(votes: SampledVotes, *, rounds: int, seed: int = 0) -> SampleResamples:
    layout = _layout(votes)
    multiplicities = np.ones((rounds, len(layout.answers)), dtype=np.int64)
    battles = np.zeros((rounds, len(layout.first)))
    scores = np.zeros((rounds, len(layout.first)))
    done = 0
    for index, size in _chunks(rounds):
        drawn = _multiplicities(layout, seed, index, size)
        multiplicities[done : done + size, layout.drawn] = drawn[:, :-1].astype(np.int64)
        battles[done : done + size], scores[done : done + size] = _pair_data(layout, drawn)
        done += size
    return SampleResamples(
        answers=layout.answers,
        multiplicities=multiplicities,
        first=layout.first,
        second=layout.second,
        battles=battles,
        scores=scores,
    )


@dataclass(frozen=True)
class DecodingVariance:
    """Per contender, in rating points on the fit's scale (module docstring); NaN where undefined."""

    has_samples: BoolArray  # two answers or more to some question, in the votes
    sample_sd: FloatArray  # over the sample bootstrap's rounds; NaN without samples
    vote_sd: FloatArray  # over the vote bootstrap's rounds
    sample_half_width: FloatArray  # half the 2.5-97.5 percentile range
    vote_half_width: FloatArray
    variance_ratio: FloatArray  # sample_sd**2 / vote_sd**2; may exceed 1
    share: FloatArray  # variance_ratio capped to [0, 1]
    null_ratio: FloatArray  # variance_ratio expected (to first order) if the samples did not differ
    excess_ratio: FloatArray  # variance_ratio - null_ratio: what the samples' differences add
    sample_round_ratings: FloatArray  # (rounds, n)
    vote_round_ratings: FloatArray  # (rounds, n)
    converged: bool  # every round of both bootstraps met the fit's tolerance


def _spread(round_ratings: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(standard deviation, half the 2.5-97.5 percentile range) over the rounds."""
    low, high = np.percentile(round_ratings, [2.5, 97.5], axis=0)
    return round_ratings.std(axis=0, ddof=1), (high - low) / 2


def _null_ratio(layout: _Layout, fit: BradleyTerryFit, battles: FloatArray) -> FloatArray:
    """sum_v Var(w_v) psi_v^2 / sum_v psi_v^2 per contender, psi_v a vote's first-order influence on the
    (identified) rating: (y - p)(G[:, a] - G[:, b]), G = identification x H^-1 (module docstring)."""
    n = len(battles)
    theta = np.asarray(fit.log_strengths, dtype=np.float64)
    hessian = negative_hessian(theta[None], battles[None], ridge=fit.ridge)[0]
    component = fit.component if fit.component.size == n else np.zeros(n, dtype=np.int64)
    groups = (component[:, None] == component[None, :]) / np.bincount(component)[component]
    inverse = np.linalg.inv(hessian + max(1.0, float(np.diag(hessian).mean())) * groups)
    influence = RATING_PER_LOG_STRENGTH * identification_matrix(n, fit.anchor_index) @ inverse
    probability, _ = win_probabilities(theta[None])
    residual = SCORES[None, :] - probability[0, layout.first, layout.second][:, None]  # (pairs, 3)
    direction = (influence[:, layout.first] - influence[:, layout.second]) ** 2  # (n, pairs)
    with np.errstate(divide="ignore", invalid="ignore"):
        numerator = direction @ (layout.class_weight_variance * residual**2).sum(axis=1)
        denominator = direction @ (layout.class_votes * residual**2).sum(axis=1)
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def decoding_variance(
    votes: SampledVotes, fit: BradleyTerryFit, *, rounds: int = DEFAULT_ROUNDS, seed: int = 0
) -> DecodingVariance:
    """Both bootstraps and their comparison per contender (module docstring). `fit` is the fit of
    `votes.counts()`."""
    if rounds < 2:
        raise ValueError(f"rounds must be at least 2, not {rounds}")
    n = votes.contender_count
    counts = votes.counts()
    layout = _layout(votes)
    vote_bootstrap = bootstrap_intervals(counts, fit, rounds=rounds, seed=seed)
    vote_sd, vote_half_width = _spread(vote_bootstrap.round_ratings)
    converged = vote_bootstrap.converged
    full = counts.battle_counts().astype(np.float64)
    if layout.has_samples.any():
        theta = np.asarray(fit.log_strengths, dtype=np.float64)
        preconditioner = np.linalg.inv(negative_hessian(theta[None], full[None], ridge=fit.ridge)[0])
        battles = np.zeros((rounds, n, n))
        scores = np.zeros((rounds, n))
        done = 0
        for index, size in _chunks(rounds):
            pair_battles, pair_scores = _pair_data(layout, _multiplicities(layout, seed, index, size))
            chunk = slice(done, done + size)
            battles[chunk, layout.first, layout.second] = pair_battles
            battles[chunk, layout.second, layout.first] = pair_battles
            scores[chunk] += pair_scores @ _one_hot(layout.first, n)
            scores[chunk] += (pair_battles - pair_scores) @ _one_hot(layout.second, n)
            done += size
        refit = fit_rounds(
            theta, battles, scores, ridge=fit.ridge, tolerance=fit.tolerance, preconditioner=preconditioner
        )
        converged = converged and bool(refit.converged.all())
        sample_round_ratings = ratings_from_log_strengths(
            refit.log_strengths, anchor_index=fit.anchor_index, anchor_rating=fit.anchor_rating
        )
        null_ratio = _null_ratio(layout, fit, full)
    else:
        sample_round_ratings = np.repeat(np.asarray(fit.ratings, dtype=np.float64)[None], rounds, axis=0)
        null_ratio = np.full(n, np.nan)
    sample_sd, sample_half_width = _spread(sample_round_ratings)
    without = ~layout.has_samples
    sample_sd[without] = sample_half_width[without] = null_ratio[without] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(vote_sd > 0, sample_sd**2 / np.where(vote_sd > 0, vote_sd, 1.0) ** 2, np.nan)
    null_ratio[~(vote_sd > 0)] = np.nan
    return DecodingVariance(
        has_samples=layout.has_samples,
        sample_sd=sample_sd,
        vote_sd=vote_sd,
        sample_half_width=sample_half_width,
        vote_half_width=vote_half_width,
        variance_ratio=ratio,
        share=np.clip(ratio, 0.0, 1.0),
        null_ratio=null_ratio,
        excess_ratio=ratio - null_ratio,
        sample_round_ratings=sample_round_ratings,
        vote_round_ratings=vote_bootstrap.round_ratings,
        converged=converged,
    )


def _one_hot(index: IntArray, n: int) -> FloatArray:
    matrix = np.zeros((len(index), n))
    matrix[np.arange(len(index)), index] = 1.0
    return matrix
