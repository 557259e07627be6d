"""What a board shows beyond the plain fit: the ranks each interval allows, how many votes each lead
rests on, the style-controlled ratings, the share of uncertainty that comes from sampling, and (with the
weak prior on) the unregularised ratings. Computed in the refresh, stored on the snapshot's rows."""

import logging
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from ratings import algorithms
from ratings.decoding import DecodingVariance, SampledVotes, decoding_variance
from ratings.fragility import neighbour_fragility, rank_spread
from ratings.services.answered_votes import AnsweredVotes, answered_votes
from ratings.style import style_bradley_terry
from ratings.style_features import standardised_covariates

logger = logging.getLogger(__name__)


def rating_ridge() -> float:
    """The fit's ridge: the weak prior's (ARENA_RATING_PRIOR_POINTS) or the default's, which only
    keeps the fit finite."""
    points = settings.ARENA_RATING_PRIOR_POINTS
    if points <= 0:
        return algorithms.DEFAULT_RIDGE
    return float((algorithms.RATING_PER_LOG_STRENGTH / points) ** 2)


def board_fit(
    counts: algorithms.PairCounts, *, anchor_index: int | None, ridge: float
) -> algorithms.RatingsResult:
    """Bradley-Terry with its bootstrap and sandwich intervals, as the settings ask for."""
    return algorithms.ratings_compute(
        counts,
        bootstrap_rounds=settings.ARENA_BOOTSTRAP_ROUNDS,
        seed=settings.ARENA_BOOTSTRAP_SEED,
        anchor_index=anchor_index,
        anchor_rating=settings.ARENA_RATING_ANCHOR_VALUE,
        ridge=ridge,
    )


@dataclass
class StyleBoard:
    ratings: np.ndarray
    low: np.ndarray
    high: np.ndarray
    ranks: np.ndarray
    ranks_worst: np.ndarray
    coefficients: list[dict[str, object]]  # name, value, low, high in rating points per SD
    votes: int
    iterations: int


@dataclass
class BoardStatistics:
    ranks_worst: np.ndarray
    robust_votes: list[int | None]  # per contender: votes to swap it with the next one below
    style: StyleBoard | None = None
    sampling_half_width: np.ndarray | None = None
    sampling_share: np.ndarray | None = None
    mle: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # ratings, low, high
    parameters: dict[str, object] = field(default_factory=dict)


def board_statistics(
    *,
    counts: algorithms.PairCounts,
    result: algorithms.RatingsResult,
    contender_ids: list[int],
    category_key: int,
    anchor_index: int | None,
) -> BoardStatistics:
    n = counts.contender_count
    _, worst = rank_spread(result.bootstrap_low, result.bootstrap_high)
    robust: list[int | None] = [None] * n
    if result.fit is not None and n >= 2 and counts.total:
        for pair in neighbour_fragility(counts, result.fit, max_votes=settings.ARENA_FRAGILITY_MAX_VOTES):
            robust[pair.upper] = pair.votes
    statistics = BoardStatistics(ranks_worst=np.maximum(worst, result.ranks), robust_votes=robust)
    statistics.parameters["fragility"] = {
        "max_votes": settings.ARENA_FRAGILITY_MAX_VOTES,
        "method": "first-order influence, confirmed by refitting",
    }
    if settings.ARENA_STYLE_CONTROL or settings.ARENA_DECODING_ROUNDS:
        votes = answered_votes(
            category_key=category_key,
            contender_ids=contender_ids,
            counts=counts,
            with_groups=settings.ARENA_DECODING_ROUNDS >= 2,
        )
        if votes is not None and len(votes):
            if settings.ARENA_STYLE_CONTROL:
                statistics.style = _style_board(
                    votes,
                    n,
                    category_key=category_key,
                    contender_ids=contender_ids,
                    ridge=rating_ridge(),
                    anchor_index=anchor_index,
                )
                if statistics.style is not None:
                    statistics.parameters["style"] = {
                        "votes": statistics.style.votes,
                        "coefficients": statistics.style.coefficients,
                        "intervals": "sandwich",
                        "iterations": statistics.style.iterations,
                    }
            if settings.ARENA_DECODING_ROUNDS >= 2:
                _decoding(statistics, votes, counts, result, n)
    if settings.ARENA_RATING_PRIOR_POINTS > 0:
        plain = board_fit(counts, anchor_index=anchor_index, ridge=algorithms.DEFAULT_RIDGE)
        statistics.mle = (plain.ratings, plain.bootstrap_low, plain.bootstrap_high)
    return statistics


# The last style fit of each board in this process, (contender ids, log-strengths then coefficients):
# the next refresh starts from it, which saves most of the Newton iterations.
_style_starts: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}


def _style_board(
    votes: AnsweredVotes,
    n: int,
    *,
    category_key: int,
    contender_ids: list[int],
    ridge: float,
    anchor_index: int | None,
) -> StyleBoard | None:
    """The style-controlled fit on the votes whose two answers' features are known."""
    styled = votes.styled
    if not styled.any():
        return None
    every = bool(styled.all())  # the usual case: no copies

    def kept(values: np.ndarray) -> np.ndarray:
        return values if every else values[styled]

    covariates = standardised_covariates(kept(votes.differences))
    previous = _style_starts.get(category_key)
    start = previous[1] if previous is not None and previous[0] == tuple(contender_ids) else None
    fit = style_bradley_terry(
        kept(votes.side_a),
        kept(votes.side_b),
        kept(votes.outcome),
        covariates.values,
        n,
        covariate_names=covariates.names,
        ridge=ridge,
        anchor_index=anchor_index,
        anchor_rating=settings.ARENA_RATING_ANCHOR_VALUE,
        start=start,
    )
    if fit.converged:
        _style_starts[category_key] = (
            tuple(contender_ids),
            np.concatenate([fit.log_strengths, fit.coefficients]),
        )
    # A contender none of whose votes has both answers stored has no style-controlled rating (the
    # ridge alone would hold it at the mean, with an interval of zero width): left out, and out of the
    # ranks of the others.
    voted = (np.bincount(kept(votes.side_a), minlength=n) + np.bincount(kept(votes.side_b), minlength=n)) > 0
    ratings, low, high = (np.where(voted, values, np.nan) for values in (fit.ratings, fit.low, fit.high))
    best, worst = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    best[voted], worst[voted] = rank_spread(low[voted], high[voted])
    points = fit.coefficient_points
    scale = algorithms.RATING_PER_LOG_STRENGTH
    coefficients: list[dict[str, object]] = [
        {
            "name": name,
            "value": round(float(points[index]), 3),
            "low": round(float(scale * fit.coefficient_low[index]), 3),
            "high": round(float(scale * fit.coefficient_high[index]), 3),
            "constant": bool(covariates.constant[index]),
        }
        for index, name in enumerate(covariates.names)
    ]
    return StyleBoard(
        ratings=ratings,
        low=low,
        high=high,
        ranks=best,
        ranks_worst=worst,
        coefficients=coefficients,
        votes=int(styled.sum()),
        iterations=fit.iterations,
    )


def sampling_figures(variance: DecodingVariance) -> tuple[np.ndarray, np.ndarray]:
    """Per contender, what the board shows of decoding variance: the 95% half-width the samples'
    differences add on their own, and their share of the rating's whole variance (votes and samples).

    The sample bootstrap also redraws the votes on the answers it redraws, so only its variance beyond
    what that alone gives (`excess_ratio`, in units of the vote bootstrap's variance; ratings/decoding.py)
    is the samples' own: half-width = vote half-width x sqrt(excess), share = excess / (1 + excess),
    with a negative excess (noise) taken as 0. NaN where the contender has no question with two samples.
    """
    excess = np.clip(np.where(variance.has_samples, variance.excess_ratio, np.nan), 0.0, None)
    return variance.vote_half_width * np.sqrt(excess), excess / (1.0 + excess)


def _decoding(
    statistics: BoardStatistics,
    votes: AnsweredVotes,
    counts: algorithms.PairCounts,
    result: algorithms.RatingsResult,
    n: int,
) -> None:
    """How much of each rating's uncertainty comes from sampling: over the votes with both answers."""
    known = (votes.group_a >= 0) & (votes.group_b >= 0)
    if not known.any() or not votes.several_samples:
        return
    sampled = SampledVotes(
        side_a=votes.side_a[known],
        side_b=votes.side_b[known],
        outcome=votes.outcome[known],
        answer_a=votes.answer_a[known],
        answer_b=votes.answer_b[known],
        group_a=votes.group_a[known],
        group_b=votes.group_b[known],
        contender_count=n,
    )
    fit = result.fit
    if fit is None or int(known.sum()) != counts.total:
        fit = algorithms.bradley_terry(
            sampled.counts(),
            anchor_index=None if fit is None else fit.anchor_index,
            anchor_rating=settings.ARENA_RATING_ANCHOR_VALUE,
            ridge=rating_ridge(),
        )
    variance = decoding_variance(
        sampled, fit, rounds=settings.ARENA_DECODING_ROUNDS, seed=settings.ARENA_BOOTSTRAP_SEED
    )
    half_width, share = sampling_figures(variance)
    statistics.sampling_half_width = half_width
    statistics.sampling_share = share
    statistics.parameters["decoding"] = {
        "rounds": settings.ARENA_DECODING_ROUNDS,
        "votes": int(known.sum()),
        "method": "bootstrap over answer samples within questions, beside the bootstrap over votes; "
        "the variance beyond what redrawing their votes gives",
    }
