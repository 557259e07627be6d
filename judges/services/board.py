"""The judge board: Bradley–Terry from the judges' verdicts, with bootstrap intervals, per category,
with style control, and how each judge agrees with the voters on the same battles.

Strong wins are weighted as Arena-Hard weights them: each order of each battle is a game, and a
verdict of "much better" (A≫B) counts as ARENA_JUDGE_STRONG_WIN_WEIGHT (3) wins, "better" as one, a
tie as one tie. Arena-Hard repeats a strong win's row three times before bootstrapping over rows; the
bootstrap here resamples the cells of the pair counts those games make, which is the same thing.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from arena.locks import lock_held
from battles.models import Category, Contender
from judges import agreement as figures
from judges.models import JudgeRating, JudgeSnapshot, Verdict
from judges.verdict_table import NO_HUMAN_VOTE, verdicts_judged
from ratings import algorithms
from ratings.bradley_terry import bradley_terry
from ratings.fragility import rank_spread
from ratings.models import ContenderRating, RatingSnapshot
from ratings.style import StyleFit, style_bradley_terry
from ratings.style_features import STYLE_FEATURE_NAMES, style_covariates

logger = logging.getLogger(__name__)

REFRESH_LOCK = "judge-board-refresh"


def judge_ridge() -> float:
    """The judge board's weak prior (ARENA_JUDGE_RATING_PRIOR_POINTS, a Gaussian of that spread on each
    rating), as the fit's ridge. On by default, unlike the voters' board: the judge board exists to rate
    newcomers from a handful of verdicts, which without it sit thousands of points out with a
    collapsed interval whenever they win (or lose) every one; and it has no published board to match."""
    points = settings.ARENA_JUDGE_RATING_PRIOR_POINTS
    if points <= 0:
        return algorithms.DEFAULT_RIDGE
    return float((algorithms.RATING_PER_LOG_STRENGTH / points) ** 2)


_FEATURES = ("length", "headers", "lists", "bold")


@dataclass(frozen=True)
class Games:
    """The verdicts of a board as the fit counts them."""

    side_a: np.ndarray  # contender index per verdict
    side_b: np.ndarray
    outcome: np.ndarray  # OUTCOME_A / OUTCOME_B / OUTCOME_TIE
    weight: np.ndarray  # games a verdict counts as


def games_of(scores: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, *, strong_weight: int) -> Games:
    outcome = np.where(
        scores > 0, algorithms.OUTCOME_A, np.where(scores < 0, algorithms.OUTCOME_B, algorithms.OUTCOME_TIE)
    )
    weight = np.where(np.abs(scores) == 2, strong_weight, 1)
    return Games(side_a=side_a, side_b=side_b, outcome=outcome, weight=weight)


def pair_counts(games: Games, n: int) -> algorithms.PairCounts:
    cell = (games.side_a * n + games.side_b) * algorithms.OUTCOME_COUNT + games.outcome
    flat = np.bincount(cell, weights=games.weight, minlength=n * n * algorithms.OUTCOME_COUNT)
    return algorithms.PairCounts(
        counts=np.rint(flat).astype(np.int64).reshape(n, n, algorithms.OUTCOME_COUNT)
    )


@dataclass
class BoardFit:
    contender_ids: list[int]
    result: algorithms.RatingsResult
    ranks_worst: np.ndarray
    verdicts: np.ndarray
    style: StyleFit | None
    # Per style covariate, whether it was the same for every verdict (its coefficient says nothing).
    style_constant: tuple[bool, ...] = ()


def board_fit(columns: dict[str, np.ndarray], mask: np.ndarray) -> BoardFit | None:
    """The judge board of the verdicts under `mask`; None without any."""
    if not mask.any():
        return None
    side_a, side_b, scores = columns["side_a"][mask], columns["side_b"][mask], columns["score"][mask]
    ids = np.unique(np.concatenate([side_a, side_b]))
    n = len(ids)
    index_a, index_b = np.searchsorted(ids, side_a), np.searchsorted(ids, side_b)
    games = games_of(scores, index_a, index_b, strong_weight=settings.ARENA_JUDGE_STRONG_WIN_WEIGHT)
    counts = pair_counts(games, n)
    result = algorithms.ratings_compute(
        counts,
        bootstrap_rounds=settings.ARENA_BOOTSTRAP_ROUNDS,
        seed=settings.ARENA_BOOTSTRAP_SEED,
        anchor_rating=settings.ARENA_RATING_ANCHOR_VALUE,
        ridge=judge_ridge(),
    )
    _, worst = rank_spread(result.bootstrap_low, result.bootstrap_high)
    verdicts = np.bincount(index_a, minlength=n) + np.bincount(index_b, minlength=n)
    style, constant = _style_fit(columns, mask, games, n) if settings.ARENA_STYLE_CONTROL else (None, ())
    return BoardFit(
        contender_ids=[int(value) for value in ids],
        result=result,
        ranks_worst=np.maximum(worst, result.ranks),
        verdicts=verdicts,
        style=style,
        style_constant=constant,
    )


def _style_fit(
    columns: dict[str, np.ndarray], mask: np.ndarray, games: Games, n: int
) -> tuple[StyleFit | None, tuple[bool, ...]]:
    """The style-controlled fit, and which covariates were constant (or None and () without one)."""
    features_a = np.stack([columns[f"a_{name}"][mask] for name in _FEATURES], axis=1)
    features_b = np.stack([columns[f"b_{name}"][mask] for name in _FEATURES], axis=1)
    known = (features_a >= 0).all(axis=1) & (features_b >= 0).all(axis=1)
    if known.sum() < 2 or n < 2:
        return None, ()
    covariates = style_covariates(features_a[known], features_b[known])
    constant = tuple(bool(value) for value in covariates.constant)
    try:
        fitted = style_bradley_terry(
            games.side_a[known],
            games.side_b[known],
            games.outcome[known],
            covariates.values,
            n,
            covariate_names=STYLE_FEATURE_NAMES,
            weights=games.weight[known],
            ridge=judge_ridge(),
            anchor_rating=settings.ARENA_RATING_ANCHOR_VALUE,
        )
    except (ValueError, np.linalg.LinAlgError) as error:
        logger.warning("judge board: no style-controlled fit: %s", error)
        return None, ()
    return fitted, constant


def _plain_ratings(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[int, float]:
    """A judge's own board without intervals (for its rank correlation with the voters')."""
    side_a, side_b = columns["side_a"][mask], columns["side_b"][mask]
    ids = np.unique(np.concatenate([side_a, side_b]))
    games = games_of(
        columns["score"][mask],
        np.searchsorted(ids, side_a),
        np.searchsorted(ids, side_b),
        strong_weight=settings.ARENA_JUDGE_STRONG_WIN_WEIGHT,
    )
    fit = bradley_terry(pair_counts(games, len(ids)), ridge=judge_ridge())
    return {int(contender): float(rating) for contender, rating in zip(ids, fit.ratings, strict=True)}


def judge_agreement(
    columns: dict[str, np.ndarray],
    mask: np.ndarray,
    *,
    judge_id: int,
    judge_ratings: dict[int, float],
    human_ratings: dict[int, float],
) -> dict[str, object]:
    """How one judge agrees with the voters on the verdicts under `mask` (judges/agreement.py)."""
    mine = mask & (columns["judge"] == judge_id)
    shown, swapped = mine & (columns["swapped"] == 0), mine & (columns["swapped"] == 1)
    _, first, second = np.intersect1d(
        columns["battle"][shown], columns["battle"][swapped], assume_unique=True, return_indices=True
    )
    as_shown, as_swapped = columns["score"][shown][first], columns["score"][swapped][second]
    human = columns["human"][shown][first]
    length_a, length_b = columns["a_length"][shown][first], columns["b_length"][shown][first]
    longer = np.where((length_a < 0) | (length_b < 0), 0, np.sign(length_a - length_b))
    voted = human != NO_HUMAN_VOTE
    compared = figures.agreement(as_shown[voted], as_swapped[voted], human[voted], longer[voted])
    decisive = mine & (columns["score"] != 0)
    first_won = np.where(columns["swapped"] == 0, columns["score"] > 0, columns["score"] < 0)[decisive]
    return {
        "judge_id": judge_id,
        "verdicts": int(mine.sum()),
        "battles_both_orders": len(as_shown),
        **compared.as_dict(),
        # Every battle judged in both orders, voted on or not.
        "flip_rate": _rounded(figures.flip_rate(as_shown, as_swapped)),
        "first_shown_win_share": _rounded(float(first_won.mean()) if len(first_won) else None),
        **figures.board_correlation(judge_ratings, human_ratings),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _human_board(category_id: int | None) -> tuple[int | None, dict[int, tuple[float, int, int]]]:
    """The latest human snapshot of the board: its id, and per contender (rating, votes, rank)."""
    snapshot = (
        RatingSnapshot.objects.filter(
            Q(category__isnull=True) if category_id is None else Q(category_id=category_id)
        )
        .order_by("-created_at", "-id")
        .only("id")
        .first()
    )
    if snapshot is None:
        return None, {}
    rows = ContenderRating.objects.filter(snapshot=snapshot).values_list(
        "contender_id", "bt_rating", "votes", "rank"
    )
    return snapshot.pk, {contender: (rating, votes, rank) for contender, rating, votes, rank in rows}


def judge_board_refresh(
    columns: dict[str, np.ndarray],
    *,
    category: Category | None,
    force: bool = False,
    statuses: dict[int, dict[str, int]] | None = None,
) -> JudgeSnapshot | None:
    """Fit one judge board (all categories, or one) from the verdicts read, and store it; None when
    neither the verdicts nor the human board changed since its last snapshot."""
    started = time.monotonic()
    mask = np.ones(len(columns["id"]), dtype=bool) if category is None else columns["category"] == category.pk
    if not mask.any():
        return None  # no verdict on this board: nothing to show (and no tab for it)
    human_snapshot_id, human = _human_board(category.pk if category else None)
    last_id = int(columns["id"][mask].max())
    previous = JudgeSnapshot.objects.filter(category=category).order_by("-created_at", "-id").first()
    if (
        not force
        and previous is not None
        and previous.last_verdict_id == last_id
        and previous.verdict_count == int(mask.sum())
        and previous.parameters.get("human_snapshot_id") == human_snapshot_id
    ):
        return None
    fit = board_fit(columns, mask)
    judge_ids = sorted({int(value) for value in np.unique(columns["judge"][mask])})
    human_ratings = {contender: values[0] for contender, values in human.items()}
    pooled = {} if fit is None else dict(zip(fit.contender_ids, map(float, fit.result.ratings), strict=True))
    names = dict(Contender.objects.filter(judge__id__in=judge_ids).values_list("judge__id", "name"))
    agreement = []
    for judge_id in judge_ids:
        ratings = (
            pooled if len(judge_ids) == 1 else _plain_ratings(columns, mask & (columns["judge"] == judge_id))
        )
        row = judge_agreement(
            columns, mask, judge_id=judge_id, judge_ratings=ratings, human_ratings=human_ratings
        )
        row["judge"] = names.get(judge_id, str(judge_id))
        if statuses is not None:
            row["statuses"] = statuses.get(judge_id, {})
        agreement.append(row)
    parameters: dict[str, object] = {
        "model": "bradley-terry",
        "strong_win_weight": settings.ARENA_JUDGE_STRONG_WIN_WEIGHT,
        "ties": "half a win each way",
        "bootstrap_rounds": settings.ARENA_BOOTSTRAP_ROUNDS,
        "bootstrap_seed": settings.ARENA_BOOTSTRAP_SEED,
        "prior_points": settings.ARENA_JUDGE_RATING_PRIOR_POINTS or None,
        "human_snapshot_id": human_snapshot_id,
        "preliminary_below_votes": settings.ARENA_PRELIMINARY_VOTES,
        "agreement_ties": "a human tie or “both are bad” and a judge's tie (its two orders cancel) are "
        "the same third label",
    }
    if fit is not None and fit.style is not None:
        style = fit.style
        parameters["style"] = {
            "verdicts": int(style.vote_count),
            "coefficients": [
                {
                    "name": name,
                    "value": round(float(value), 3),
                    "low": round(float(low), 3),
                    "high": round(float(high), 3),
                    "constant": constant,
                }
                for name, value, low, high, constant in zip(
                    style.covariate_names,
                    style.coefficient_points,
                    algorithms.RATING_PER_LOG_STRENGTH * style.coefficient_low,
                    algorithms.RATING_PER_LOG_STRENGTH * style.coefficient_high,
                    fit.style_constant,
                    strict=True,
                )
            ],
        }
    with transaction.atomic():
        snapshot = JudgeSnapshot.objects.create(
            category=category,
            verdict_count=int(mask.sum()),
            last_verdict_id=last_id,
            parameters=parameters,
            agreement=agreement,
            flags=[] if fit is None else list(fit.result.flags),
        )
        if fit is not None:
            JudgeRating.objects.bulk_create(_rows(snapshot, fit, human))
        snapshot.duration_ms = round((time.monotonic() - started) * 1000)
        snapshot.save(update_fields=["duration_ms"])
    return snapshot


def _rows(
    snapshot: JudgeSnapshot, fit: BoardFit, human: dict[int, tuple[float, int, int]]
) -> list[JudgeRating]:
    result = fit.result
    totals = result.totals
    style = fit.style
    rows = []
    for index, contender_id in enumerate(fit.contender_ids):
        rating, votes, rank = human.get(contender_id, (None, 0, None))
        wins, losses = int(totals.wins[index]), int(totals.losses[index])
        style_fields: dict[str, float | int] = {}
        if style is not None and np.isfinite(style.ratings[index]):
            style_fields = {
                "style_rating": float(style.ratings[index]),
                "style_low": float(style.low[index]),
                "style_high": float(style.high[index]),
                "style_rank": int(style.ranks[index]),
            }
        rows.append(
            JudgeRating(
                snapshot=snapshot,
                contender_id=contender_id,
                rating=_finite(result.ratings[index]),
                low=_finite(result.bootstrap_low[index]),
                high=_finite(result.bootstrap_high[index]),
                rank=int(result.ranks[index]),
                rank_worst=int(fit.ranks_worst[index]),
                verdicts=int(fit.verdicts[index]),
                wins=wins,
                losses=losses,
                ties=int(totals.ties[index]),
                win_rate=wins / (wins + losses) if wins + losses else None,
                human_votes=votes,
                human_rating=rating,
                human_rank=rank,
                is_cold_start=votes < settings.ARENA_PRELIMINARY_VOTES,
                **style_fields,
            )
        )
    return rows


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def verdict_statuses() -> dict[int, dict[str, int]]:
    """Per judge, its verdicts by status."""
    statuses: dict[int, dict[str, int]] = {}
    for judge_id, status, count in (
        Verdict.objects.values_list("judge_id", "status").annotate(count=Count("id")).order_by()
    ):
        statuses.setdefault(judge_id, {})[status] = count
    return statuses


def judge_boards_refresh(*, force: bool = False) -> list[JudgeSnapshot]:
    """Every judge board: all categories together, then each category with verdicts. One at a time: a
    refresh that finds another running leaves it the work."""
    written: list[JudgeSnapshot] = []
    with lock_held(REFRESH_LOCK) as held:
        if not held:
            return written
        columns = verdicts_judged()
        snapshot = judge_board_refresh(columns, category=None, force=force, statuses=verdict_statuses())
        if snapshot is not None:
            written.append(snapshot)
        category_ids = sorted({int(value) for value in np.unique(columns["category"])} - {0})
        for category in Category.objects.filter(pk__in=category_ids):
            snapshot = judge_board_refresh(columns, category=category, force=force)
            if snapshot is not None:
                written.append(snapshot)
        if written:
            judge_snapshots_thin()
    return written


# Snapshots kept per board: the judge board keeps no history (a page being read still finds its
# snapshot while a newer one is written).
SNAPSHOTS_KEPT = 3


def judge_snapshots_thin() -> int:
    """Delete all but the newest few snapshots of each judge board; returns how many went."""
    newest: dict[int | None, list[int]] = {}
    for snapshot_id, category_id in JudgeSnapshot.objects.order_by("-created_at", "-id").values_list(
        "id", "category_id"
    ):
        newest.setdefault(category_id, []).append(snapshot_id)
    old = [snapshot_id for ids in newest.values() for snapshot_id in ids[SNAPSHOTS_KEPT:]]
    if not old:
        return 0
    return JudgeSnapshot.objects.filter(id__in=old).delete()[1].get("judges.JudgeSnapshot", 0)
