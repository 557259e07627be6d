"""Refreshing the ratings: counters and Elo in, a snapshot out; one refresh at a time, bursts coalesced."""

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from arena import stores
from arena.locks import lock_held, one_at_a_time
from battles.models import Category
from battles.selectors import (
    category_ids,
    contender_id_by_name,
    vote_cast_at,
    vote_newest_id,
    votes_first_recorded_at,
)
from ratings import algorithms
from ratings.models import ALL_CATEGORIES, ContenderRating, RatingMatrix, RatingSnapshot, RatingsState
from ratings.selectors import categories_with_counted_votes, snapshot_latest, vote_total_counted
from ratings.services.board_statistics import BoardStatistics, board_fit, board_statistics, rating_ridge
from ratings.services.counters import pair_counts_load, pair_counts_lock, pair_counts_write
from ratings.services.elo import elo_ratings, elo_rebuild
from ratings.services.vote_log import votes_in_time_order

logger = logging.getLogger(__name__)

REFRESH_QUEUED_KEY = "ratings:refresh-queued"
# How long a queued refresh keeps later requests from queuing another, should its task be lost.
REFRESH_QUEUED_SECONDS = 600
# The advisory lock a refresh and a rebuild hold (arena/locks.py).
REFRESH_LOCK = "ratings-refresh"
# When this process last refreshed the category boards (time.monotonic()).
_categories_refreshed_at = [0.0]
# Matrices are kept for this many of the newest snapshots of each board; history keeps the rows.
_MATRICES_KEPT = 3


def ratings_refresh_request() -> None:
    """Queue a refresh once the current transaction commits; a burst of requests queues one.

    Without Redis or the broker nothing is queued and the vote is not held up: the refresh that runs
    when the worker reconnects (and beat's, every ARENA_RATINGS_REFRESH_INTERVAL_SECONDS) counts it.
    """
    from ratings.tasks import ratings_refresh_task

    def _queue() -> None:
        first = stores.call(
            stores.CACHE,
            "coalesce ratings refreshes",
            lambda: cache.add(REFRESH_QUEUED_KEY, "1", timeout=REFRESH_QUEUED_SECONDS),
            fallback=lambda: True,
        )
        if not first:
            return
        queued = stores.call(
            stores.BROKER,
            "queue a ratings refresh",
            lambda: bool(ratings_refresh_task.delay()),
            fallback=lambda: False,
        )
        if not queued:  # let the next vote try again
            stores.call(
                stores.CACHE,
                "coalesce ratings refreshes",
                lambda: cache.delete(REFRESH_QUEUED_KEY),
                fallback=bool,
            )

    # robust: the vote is committed; nothing that happens here may turn it into an error.
    transaction.on_commit(_queue, robust=True)


def ratings_refresh_locked(*, categories: bool = False, queued: bool = False) -> RatingSnapshot | None:
    """Refresh, one worker at a time, and once more while votes arrived during a refresh.

    Requests (one per vote) queue a task only while none is queued, so a burst of votes queues one
    task. The flag is cleared when a refresh starts: votes arriving during it queue the next one,
    which finds the lock held and leaves them to the running refresh (`one_at_a_time`). With
    `categories`, the boards of categories with new votes are refreshed too. In a `queued` task,
    refreshes start at least ARENA_RATINGS_REFRESH_MIN_GAP_SECONDS apart: one due sooner is queued
    for the end of the gap (at once without a broker). Returns the overall board's newest snapshot
    written by this call, if any.
    """
    written: list[RatingSnapshot] = []
    # Every category board asked for once: later runs of this holder (votes that kept coming) do
    # the overall board, and the categories only when they are due.
    categories_asked = [categories]

    def overall() -> None:
        # The flag is cleared as each refresh of the overall board starts: a vote cast during it
        # queues the next request (which finds the lock held and leaves the vote to this holder).
        stores.call(
            stores.CACHE,
            "coalesce ratings refreshes",
            lambda: cache.delete(REFRESH_QUEUED_KEY),
            fallback=bool,
        )
        snapshot = ratings_refresh()
        if snapshot is not None:
            written.append(snapshot)

    def refresh() -> None:
        if _recount_requested():
            # Votes were left out or restored: counters and Elo from the votes that count, every board.
            snapshot = _recount()
            if snapshot is not None:
                written.append(snapshot)
            categories_asked[0] = False
            _categories_refreshed_at[0] = time.monotonic()
            return
        overall()
        # Whoever holds the lock keeps the category boards fresh too: a process that asked for them
        # and found the lock held has left them to the holder.
        stale = (
            time.monotonic() - _categories_refreshed_at[0] > settings.ARENA_RATINGS_REFRESH_INTERVAL_SECONDS
        )
        if categories_asked[0] or stale:
            categories_asked[0] = False
            for category in categories_with_counted_votes():
                ratings_refresh(category=category)
                # A vote cast meanwhile reaches the overall board after this category's refresh, not
                # after every category's (ten boards at a million votes take tens of seconds).
                if _votes_not_on_the_board():
                    overall()
            _categories_refreshed_at[0] = time.monotonic()

    def queue_in(seconds: float) -> bool:
        from ratings.tasks import ratings_refresh_task

        return stores.call(
            stores.BROKER,
            "queue a ratings refresh",
            lambda: bool(
                ratings_refresh_task.apply_async(kwargs={"categories": categories}, countdown=seconds)
            ),
            fallback=lambda: False,
        )

    one_at_a_time(
        REFRESH_LOCK,
        work=refresh,
        pending=lambda: _recount_requested() or _votes_not_on_the_board(),
        min_gap_seconds=settings.ARENA_RATINGS_REFRESH_MIN_GAP_SECONDS if queued else 0.0,
        later=queue_in,
    )
    return written[-1] if written else None


def ratings_recount_request() -> None:
    """Ask for the counters and Elo to be recomputed from the votes that count (votes were left out
    or restored), then every board refreshed: by the next refresh, queued once the transaction
    commits. Kept in the database, so a broker outage only delays it until beat's next refresh."""
    state = RatingsState.objects.first() or RatingsState.objects.create()
    RatingsState.objects.filter(pk=state.pk).update(recount_requested_at=timezone.now())
    ratings_refresh_request()


def _recount_requested() -> bool:
    return RatingsState.objects.filter(recount_requested_at__isnull=False).exists()


def _recount() -> RatingSnapshot | None:
    requested = RatingsState.objects.values_list("recount_requested_at", flat=True).first()
    snapshot = _rebuild(categories=True)
    # A request made during the recount stays for the next one.
    RatingsState.objects.filter(recount_requested_at=requested).update(recount_requested_at=None)
    logger.info("ratings recounted from the votes that count (asked for at %s)", requested)
    return snapshot


def _votes_not_on_the_board() -> bool:
    """Whether the overall board misses votes that are in the counters."""
    latest = snapshot_latest()
    newest = vote_newest_id()
    if latest is None:
        return newest is not None
    return latest.last_vote_id != newest or latest.vote_count != vote_total_counted()


@contextmanager
def _one_moment() -> Iterator[None]:
    """A transaction that reads counters, Elo and votes as of one moment.

    On PostgreSQL: REPEATABLE READ (SQLite transactions already are). Inside an outer transaction
    (as in tests), that transaction's view is used.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def ratings_refresh(*, category: Category | None = None, force: bool = False) -> RatingSnapshot | None:
    """Fit the ratings from the counters and store a snapshot; None if no vote arrived since the last."""
    started = time.monotonic()
    key = category.pk if category else ALL_CATEGORIES
    with _one_moment():
        overall_total = vote_total_counted()
        newest = vote_newest_id(category=category)
        previous = snapshot_latest(category=category)
        contender_ids, counts = pair_counts_load(category_key=key)
        if (
            not force
            and previous is not None
            and previous.last_vote_id == newest
            and previous.vote_count == counts.total
        ):
            return None
        elo = elo_ratings(vote_total=overall_total).get(key, {})
        fit_started = time.monotonic()
        anchor_index = _anchor_index(contender_ids)
        result = board_fit(counts, anchor_index=anchor_index, ridge=rating_ridge())
        fit_ms = round((time.monotonic() - fit_started) * 1000)
        extras_started = time.monotonic()
        extras = board_statistics(
            counts=counts,
            result=result,
            contender_ids=contender_ids,
            category_key=key,
            anchor_index=anchor_index,
        )
        extras_ms = round((time.monotonic() - extras_started) * 1000)
        oldest_new = (
            votes_first_recorded_at(category=category, after_id=previous.last_vote_id if previous else None)
            if newest
            else None
        )
        last_vote_at = vote_cast_at(vote_id=newest) if newest else None
        snapshot = _snapshot_write(
            category=category,
            contender_ids=contender_ids,
            counts=counts,
            result=result,
            extras=extras,
            elo=elo,
            last_vote=(newest, last_vote_at),
            parameters={
                "model": "bradley-terry",
                "ties": "half a win each way",
                "scale": algorithms.ELO_SCALE,
                "base": algorithms.ELO_BASE,
                "anchor": settings.ARENA_RATING_ANCHOR or "mean",
                "anchor_rating": settings.ARENA_RATING_ANCHOR_VALUE,
                "bootstrap_rounds": settings.ARENA_BOOTSTRAP_ROUNDS,
                "bootstrap_seed": settings.ARENA_BOOTSTRAP_SEED,
                "iterations": result.iterations,
                "gradient_norm": result.gradient_norm,
                "fit_ms": fit_ms,
                "statistics_ms": extras_ms,
                "prior_points": settings.ARENA_RATING_PRIOR_POINTS or None,
                **extras.parameters,
                "elo": {"k": algorithms.ELO_K, "initial": algorithms.ELO_INITIAL},
                "preliminary_below_votes": settings.ARENA_PRELIMINARY_VOTES,
            },
        )
        snapshot.duration_ms = round((time.monotonic() - started) * 1000)
        if oldest_new is not None:
            snapshot.vote_lag_ms = max(0, round((snapshot.created_at - oldest_new).total_seconds() * 1000))
        snapshot.save(update_fields=["duration_ms", "vote_lag_ms"])
    logger.info(
        "ratings refreshed (%s): %s votes, %s contenders, %s ms",
        category or "all categories",
        snapshot.vote_count,
        len(contender_ids),
        snapshot.duration_ms,
    )
    return snapshot


def _anchor_index(contender_ids: list[int]) -> int | None:
    """The index of the contender pinned to ARENA_RATING_ANCHOR_VALUE, if one is named and present."""
    if not settings.ARENA_RATING_ANCHOR:
        return None
    anchor = contender_id_by_name(name=settings.ARENA_RATING_ANCHOR)
    return contender_ids.index(anchor) if anchor in contender_ids else None


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def _optional(values: np.ndarray | None, index: int) -> float | None:
    if values is None or not np.isfinite(values[index]):
        return None
    return float(values[index])


def _style_fields(extras: BoardStatistics, index: int) -> dict[str, float | int | None]:
    style = extras.style
    if style is None:
        return {}
    if not np.isfinite(style.ratings[index]):  # no vote of its with both answers stored
        return {}
    return {
        "style_rating": _finite(style.ratings[index]),
        "style_low": _finite(style.low[index]),
        "style_high": _finite(style.high[index]),
        "style_rank": int(style.ranks[index]),
        "style_rank_worst": int(style.ranks_worst[index]),
    }


def _snapshot_write(
    *,
    category: Category | None,
    contender_ids: list[int],
    counts: algorithms.PairCounts,
    result: "algorithms.RatingsResult",
    extras: BoardStatistics,
    elo: dict[int, float],
    last_vote: tuple[int | None, datetime | None],
    parameters: dict[str, object],
) -> RatingSnapshot:
    snapshot = RatingSnapshot.objects.create(
        category=category,
        vote_count=counts.total,
        last_vote_id=last_vote[0],
        last_vote_at=last_vote[1],
        duration_ms=0,
        parameters=parameters,
        flags=list(result.flags),
    )
    totals = counts.totals()
    votes = totals.votes
    win_rate = totals.win_rate()
    ContenderRating.objects.bulk_create(
        ContenderRating(
            snapshot=snapshot,
            contender_id=contender_id,
            elo=elo.get(contender_id, algorithms.ELO_INITIAL),
            bt_rating=_finite(result.ratings[index]),
            ci_low=_finite(result.bootstrap_low[index]),
            ci_high=_finite(result.bootstrap_high[index]),
            sandwich_low=_finite(result.sandwich_low[index]),
            sandwich_high=_finite(result.sandwich_high[index]),
            rank=int(result.ranks[index]),
            wins=int(totals.wins[index]),
            losses=int(totals.losses[index]),
            ties=int(totals.ties[index]),
            both_bad=int(totals.both_bad[index]),
            votes=int(votes[index]),
            win_rate=None if np.isnan(win_rate[index]) else float(win_rate[index]),
            preliminary=int(votes[index]) < settings.ARENA_PRELIMINARY_VOTES,
            rank_worst=int(extras.ranks_worst[index]),
            robust_votes=extras.robust_votes[index],
            **_style_fields(extras, index),
            sampling_half_width=_optional(extras.sampling_half_width, index),
            sampling_share=_optional(extras.sampling_share, index),
            mle_rating=None if extras.mle is None else _finite(extras.mle[0][index]),
            mle_low=None if extras.mle is None else _finite(extras.mle[1][index]),
            mle_high=None if extras.mle is None else _finite(extras.mle[2][index]),
        )
        for index, contender_id in enumerate(contender_ids)
    )

    def as_lists(matrix: np.ndarray) -> list[list[float | None]]:
        """round(value, 6), None where not finite. Rounded by numpy, which gives Python's round (the
        decimal nearest the exact value, half to even) except where value * 1e6 lies within rounding of
        a half: those Python rounds. (Python's round on each numpy scalar takes 0.3 s at 260 contenders.)"""
        scaled = matrix * 1e6
        rows = (np.rint(scaled) / 1e6).tolist()
        with np.errstate(invalid="ignore"):
            for row, column in np.argwhere(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6):
                rows[row][column] = round(float(matrix[row, column]), 6)
        return [[value if math.isfinite(value) else None for value in row] for row in rows]

    RatingMatrix.objects.create(
        snapshot=snapshot,
        contender_ids=contender_ids,
        battle_counts=counts.battle_counts().tolist(),
        win_rates=as_lists(counts.win_rate_matrix()),
        predicted_win_rates=as_lists(result.predicted_win_rates),
    )
    return snapshot


def ratings_history_thin(*, now: datetime | None = None) -> int:
    """Keep history light: the last day at most one snapshot a minute, older ones one a day
    (always each day's last); matrices only for the newest few snapshots of each board."""
    now = now or timezone.now()
    removed = 0
    categories: list[int | None] = [None, *category_ids()]
    for category_id in categories:
        board = Q(category__isnull=True) if category_id is None else Q(category_id=category_id)
        snapshots = list(
            RatingSnapshot.objects.filter(board)
            .order_by("-created_at", "-id")
            .values_list("id", "created_at")
        )
        keep: set[int] = set()
        seen_periods: set[tuple[int, ...]] = set()
        for snapshot_id, created_at in snapshots:  # newest first: each period keeps its last snapshot
            recent = now - created_at < timedelta(days=1)
            period = (
                (created_at.year, created_at.month, created_at.day, created_at.hour, created_at.minute)
                if recent
                else (created_at.year, created_at.month, created_at.day)
            )
            if period not in seen_periods:
                seen_periods.add(period)
                keep.add(snapshot_id)
        drop = [snapshot_id for snapshot_id, _ in snapshots if snapshot_id not in keep]
        if drop:
            removed += RatingSnapshot.objects.filter(id__in=drop).delete()[1].get("ratings.RatingSnapshot", 0)
        newest = [snapshot_id for snapshot_id, _ in snapshots if snapshot_id in keep][:_MATRICES_KEPT]
        RatingMatrix.objects.filter(snapshot__in=RatingSnapshot.objects.filter(board)).exclude(
            snapshot_id__in=newest
        ).delete()
    return removed


def ratings_rebuild(*, categories: bool = False) -> RatingSnapshot | None:
    """Recompute the counters and Elo from the vote table and refresh the overall board (and, with
    `categories`, each category's; otherwise the next periodic refresh does those).

    It holds the refresh lock throughout: the counters are emptied and refilled in one transaction,
    and a refresh reading them meanwhile could see them empty (TRUNCATE is not hidden from other
    transactions' snapshots)."""
    with lock_held(REFRESH_LOCK, wait=True):
        return _rebuild(categories=categories)


def _rebuild(*, categories: bool) -> RatingSnapshot | None:
    with transaction.atomic():
        pair_counts_lock()
        votes = votes_in_time_order()  # read once, for both
        pair_counts_write(votes)
        elo_rebuild(votes)
    snapshot = ratings_refresh(force=True)
    if categories:
        for category in categories_with_counted_votes():
            ratings_refresh(category=category, force=True)
    return snapshot
