"""Recomputing the ratings and storing them as snapshots."""

import logging
import time

import numpy as np
from django.core.cache import cache
from django.db import transaction

from battles.models import Vote
from ratings import algorithms
from ratings.models import ContenderRating, RatingSnapshot

logger = logging.getLogger(__name__)

REFRESH_QUEUED_KEY = "ratings:refresh-queued"
REFRESH_LOCK_KEY = "ratings:refresh-lock"
# Longer than any refresh takes; a crashed refresh frees the lock after this.
REFRESH_LOCK_SECONDS = 600
_OUTCOME_CODES: dict[str, int] = {
    Vote.Outcome.A: algorithms.OUTCOME_A,
    Vote.Outcome.B: algorithms.OUTCOME_B,
    Vote.Outcome.TIE: algorithms.OUTCOME_TIE,
    Vote.Outcome.BOTH_BAD: algorithms.OUTCOME_BOTH_BAD,
}


def ratings_refresh_request() -> None:
    """Queue a refresh once the current transaction commits; a burst of requests queues one."""
    from ratings.tasks import ratings_refresh_task

    def _queue() -> None:
        if cache.add(REFRESH_QUEUED_KEY, "1", timeout=REFRESH_LOCK_SECONDS):
            ratings_refresh_task.delay()

    transaction.on_commit(_queue)


def ratings_refresh_locked() -> RatingSnapshot | None:
    """Refresh, one worker at a time; a refresh that finds another running tries again a second later.

    Requests (one per vote) queue a task only while none is queued, so a burst of votes queues one
    task. The flag is cleared when a refresh starts: votes arriving during it queue the next one.
    """
    if not cache.add(REFRESH_LOCK_KEY, "1", timeout=REFRESH_LOCK_SECONDS):
        from ratings.tasks import ratings_refresh_task

        ratings_refresh_task.apply_async(countdown=1)
        return None
    try:
        cache.delete(REFRESH_QUEUED_KEY)
        return ratings_refresh()
    finally:
        cache.delete(REFRESH_LOCK_KEY)


def ratings_refresh(*, force: bool = False) -> RatingSnapshot | None:
    """Recompute Elo and vote totals from every vote and store a snapshot.

    Returns None (and stores nothing) when no vote arrived since the latest snapshot.
    """
    started = time.monotonic()
    latest = RatingSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    if not force and latest is not None:
        current = Vote.objects.order_by("-id").values_list("id", flat=True).first()
        if latest.last_vote_id == current and latest.vote_count == Vote.objects.count():
            return None
    rows = list(
        Vote.objects.order_by("created_at", "id").values_list(
            "contender_a_id", "contender_b_id", "outcome", "id"
        )
    )
    last_vote = (
        Vote.objects.filter(pk=max(row[3] for row in rows)).values("id", "created_at").first()
        if rows
        else None
    )
    last_vote_id = last_vote["id"] if last_vote else None
    contender_ids = sorted({row[0] for row in rows} | {row[1] for row in rows})
    index_of = {contender_id: index for index, contender_id in enumerate(contender_ids)}
    count = len(contender_ids)
    side_a = np.fromiter((index_of[row[0]] for row in rows), dtype=np.int64, count=len(rows))
    side_b = np.fromiter((index_of[row[1]] for row in rows), dtype=np.int64, count=len(rows))
    outcome = np.fromiter((_OUTCOME_CODES[row[2]] for row in rows), dtype=np.int64, count=len(rows))
    elo = algorithms.online_elo(side_a, side_b, algorithms.score_of_outcome(outcome), contender_count=count)
    totals = algorithms.outcome_totals(side_a, side_b, outcome, contender_count=count)
    win_rate = totals.win_rate()
    votes = totals.votes
    with transaction.atomic():
        snapshot = RatingSnapshot.objects.create(
            vote_count=len(rows),
            last_vote_id=last_vote_id,
            last_vote_at=last_vote["created_at"] if last_vote else None,
            duration_ms=0,
            parameters={
                "elo": {
                    "k": algorithms.ELO_K,
                    "base": algorithms.ELO_BASE,
                    "scale": algorithms.ELO_SCALE,
                    "initial": algorithms.ELO_INITIAL,
                },
                "tie_score": 0.5,
                "both_bad_score": 0.5,
            },
        )
        ContenderRating.objects.bulk_create(
            ContenderRating(
                snapshot=snapshot,
                contender_id=contender_id,
                elo=float(elo[index]),
                wins=int(totals.wins[index]),
                losses=int(totals.losses[index]),
                ties=int(totals.ties[index]),
                both_bad=int(totals.both_bad[index]),
                votes=int(votes[index]),
                win_rate=None if np.isnan(win_rate[index]) else float(win_rate[index]),
            )
            for contender_id, index in index_of.items()
        )
        snapshot.duration_ms = round((time.monotonic() - started) * 1000)
        snapshot.save(update_fields=["duration_ms"])
    logger.info("ratings refreshed: %s votes, %s contenders, %s ms", len(rows), count, snapshot.duration_ms)
    return snapshot
