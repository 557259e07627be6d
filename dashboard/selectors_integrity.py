"""The dashboard's integrity page: votes and voters the sweep flagged, the share left out per hour,
and the overall board with and without the votes left out."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Value
from django.db.models.functions import NullIf

from battles.models import Contender, IntegritySweep, Vote
from battles.services.exclusions import EXCLUSION_REASONS, codes_of
from ratings import algorithms
from ratings.selectors import ratings_recount_pending
from ratings.selectors_vote_table import COUNTED, OUTCOME_CODE_SQL
from ratings.services.counters import pair_counts_load

_VOTES = Vote._meta.db_table


@dataclass
class FlaggedVoter:
    voter_id: uuid.UUID
    votes: int
    flagged: int
    left_out: int
    restored: int
    signals: list[str]
    addresses: int
    last_vote_at: datetime

    @property
    def reasons(self) -> list[str]:
        return [str(EXCLUSION_REASONS.get(code, code)) for code in self.signals]


def flagged_voters(*, limit: int = 50) -> list[FlaggedVoter]:
    """The voters with flagged votes, most left out first (from the flagged votes' partial index)."""
    found = list(
        Vote.objects.exclude(signals="")
        .filter(voter__isnull=False)
        .values("voter_id")
        .annotate(
            flagged=Count("id"),
            left_out=Count("id", filter=~Q(excluded_reasons="")),
            restored=Count("id", filter=Q(restored_at__isnull=False)),
            addresses=Count(NullIf("ip_hash", Value("")), distinct=True),
            last_vote_at=Max("created_at"),
        )
        .order_by("-left_out", "-flagged", "-last_vote_at")[:limit]
    )
    voter_ids = [row["voter_id"] for row in found]
    totals = dict(
        Vote.objects.filter(voter_id__in=voter_ids)
        .values("voter_id")
        .annotate(n=Count("id"))
        .values_list("voter_id", "n")
    )
    signals: dict[uuid.UUID, set[str]] = {voter_id: set() for voter_id in voter_ids}
    for voter_id, codes in (
        Vote.objects.filter(voter_id__in=voter_ids)
        .exclude(signals="")
        .values_list("voter_id", "signals")
        .distinct()
    ):
        signals[voter_id].update(codes_of(codes))
    return [
        FlaggedVoter(
            row["voter_id"],
            totals.get(row["voter_id"], 0),
            row["flagged"],
            row["left_out"],
            row["restored"],
            sorted(signals[row["voter_id"]], key=_signal_order),
            row["addresses"],
            row["last_vote_at"],
        )
        for row in found
    ]


def _signal_order(code: str) -> int:
    codes = list(EXCLUSION_REASONS)
    return codes.index(code) if code in codes else len(codes)


def flagged_votes(*, limit: int = 100, voter_id: uuid.UUID | None = None) -> QuerySet[Vote]:
    """The newest flagged votes (of one voter, if given)."""
    votes = Vote.objects.exclude(signals="").select_related("contender_a", "contender_b")
    if voter_id is not None:
        votes = votes.filter(voter_id=voter_id)
    return votes.order_by("-created_at", "-id")[:limit]


@dataclass
class BoardRow:
    name: str
    rank: int
    rating: float | None
    votes: int
    rank_all: int
    rating_all: float | None
    votes_all: int

    @property
    def moved(self) -> float | None:
        if self.rating is None or self.rating_all is None:
            return None
        return self.rating - self.rating_all


@dataclass
class BoardsCompared:
    rows: list[BoardRow] = field(default_factory=list)
    votes_counted: int = 0
    votes_left_out: int = 0


def _fit(counts: np.ndarray) -> dict[int, float]:
    """Ratings by index, for contenders with votes (the sandwich fit, no bootstrap: this is a view)."""
    result = algorithms.ratings_compute(algorithms.PairCounts(counts=counts), bootstrap_rounds=0)
    battled = result.battle_counts.sum(axis=1) > 0
    return {i: float(result.ratings[i]) for i in range(len(counts)) if battled[i]}


def boards_compared() -> BoardsCompared:
    """The overall board from the votes that count (as published) beside the same board with every
    vote, the ones left out included: how much the exclusions move each contender."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT contender_a_id, contender_b_id, {OUTCOME_CODE_SQL}, COUNT(*) FROM {_VOTES} "
            "WHERE excluded_reasons <> '' GROUP BY 1, 2, 3"
        )
        left_out = cursor.fetchall()
    if ratings_recount_pending():
        # The pair counters still hold votes left out since the last refresh: count from the votes.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT contender_a_id, contender_b_id, {OUTCOME_CODE_SQL}, COUNT(*) FROM {_VOTES} "
                f"WHERE {COUNTED} GROUP BY 1, 2, 3"
            )
            cells = cursor.fetchall()
        contender_ids = sorted({cell[0] for cell in cells} | {cell[1] for cell in cells})
        at = {contender_id: i for i, contender_id in enumerate(contender_ids)}
        matrix = np.zeros((len(contender_ids), len(contender_ids), 4), dtype=np.int64)
        for contender_a, contender_b, outcome, count in cells:
            matrix[at[contender_a], at[contender_b], outcome] = count
        counted = algorithms.PairCounts(counts=matrix)
    else:
        contender_ids, counted = pair_counts_load()
    ids = sorted(set(contender_ids) | {row[0] for row in left_out} | {row[1] for row in left_out})
    index = {contender_id: i for i, contender_id in enumerate(ids)}
    published = np.zeros((len(ids), len(ids), 4), dtype=np.int64)
    for i, contender_id in enumerate(contender_ids):
        for j, other_id in enumerate(contender_ids):
            published[index[contender_id], index[other_id]] = counted.counts[i, j]
    every = published.copy()
    for contender_a, contender_b, outcome, count in left_out:
        every[index[contender_a], index[contender_b], outcome] += count
    compared = BoardsCompared(
        votes_counted=int(published.sum()), votes_left_out=int(every.sum() - published.sum())
    )
    if not ids:
        return compared
    ratings, ratings_all = _fit(published), _fit(every)
    votes = published.sum(axis=(1, 2)) + published.sum(axis=(0, 2))
    votes_all = every.sum(axis=(1, 2)) + every.sum(axis=(0, 2))
    names = dict(Contender.objects.filter(pk__in=ids).values_list("pk", "name"))

    def ranks(values: dict[int, float]) -> dict[int, int]:
        ordered = sorted(values, key=lambda i: -values[i])
        return {i: position + 1 for position, i in enumerate(ordered)}

    rank, rank_all = ranks(ratings), ranks(ratings_all)
    for i, contender_id in enumerate(ids):
        compared.rows.append(
            BoardRow(
                name=names.get(contender_id, str(contender_id)),
                rank=rank.get(i, 0),
                rating=ratings.get(i),
                votes=int(votes[i]),
                rank_all=rank_all.get(i, 0),
                rating_all=ratings_all.get(i),
                votes_all=int(votes_all[i]),
            )
        )
    compared.rows.sort(key=lambda row: (row.rank == 0, row.rank, row.rank_all))
    return compared


def last_sweep() -> IntegritySweep | None:
    """The integrity sweep's last run (None before the first)."""
    return IntegritySweep.objects.filter(pk=1).first()


def integrity_settings() -> dict[str, Any]:
    """The sweep's settings as the page words them (whole numbers where they are)."""

    def shown(value: float) -> float | int:
        return int(value) if float(value).is_integer() else value

    return {
        "enabled": settings.ARENA_INTEGRITY_ENABLED,
        "threshold": shown(settings.ARENA_INTEGRITY_THRESHOLD),
        "p_value": f"{settings.ARENA_INTEGRITY_P_VALUE:g}",
        "lookback_days": shown(settings.ARENA_INTEGRITY_LOOKBACK_DAYS),
        "sweep_seconds": shown(settings.ARENA_INTEGRITY_SWEEP_SECONDS),
        "alert_percent": shown(round(settings.ARENA_ALERT_EXCLUDED_SHARE * 100, 1)),
    }
