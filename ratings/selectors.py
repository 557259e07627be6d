from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from battles.models import Category
from ratings.boards import board_rows
from ratings.models import (
    ALL_CATEGORIES,
    ContenderRating,
    PairCount,
    RatingMatrix,
    RatingSnapshot,
    RatingsState,
)

# The order of a board's rows: best first, ties by rating, then by name.
LEADERBOARD_ORDER = ("rank", "-bt_rating", "contender__name")


@dataclass(frozen=True)
class Leaderboard:
    snapshot: RatingSnapshot | None
    rows: list[ContenderRating]
    retired_count: int = 0  # the snapshot's retired contenders, shown or not


def snapshot_latest(*, category: Category | None = None) -> RatingSnapshot | None:
    """The newest snapshot of a board (all categories, or one), with its category."""
    return (
        RatingSnapshot.objects.select_related("category")
        .filter(category=category)
        .order_by("-created_at", "-id")
        .first()
    )


def snapshot_find(*, snapshot_id: int) -> RatingSnapshot | None:
    """A snapshot by id, with its category."""
    return RatingSnapshot.objects.select_related("category").filter(pk=snapshot_id).first()


def snapshots_of_board(*, category: Category | None) -> QuerySet[RatingSnapshot]:
    """A board's snapshots (all categories, or one), with their category, in no particular order."""
    return RatingSnapshot.objects.filter(category=category).select_related("category")


def leaderboard_rows(*, snapshot: RatingSnapshot) -> list[ContenderRating]:
    """A snapshot's rows with their contenders, best first."""
    return list(snapshot.ratings.select_related("contender").order_by(*LEADERBOARD_ORDER))


def leaderboard_row_values(
    *, snapshot: RatingSnapshot, fields: Sequence[str], with_retired_flag: bool = False
) -> list[dict[str, Any]]:
    """A snapshot's rows as values, best first: these fields of the rows, with `contender_id` and
    `contender__name` (and `contender__is_retired` if asked for)."""
    extra = ("contender__is_retired",) if with_retired_flag else ()
    return list(
        snapshot.ratings.order_by(*LEADERBOARD_ORDER).values(
            *fields, "contender_id", "contender__name", *extra
        )
    )


def _rating_field(row: ContenderRating, name: str) -> Any:
    return row.contender.is_retired if name == "retired" else getattr(row, name)


def leaderboard_latest(
    *, category: Category | None = None, board: str = "raw", with_retired: bool = False
) -> Leaderboard:
    """The newest snapshot of a board (all categories, or one) and the rows it shows, best first: the
    raw or the style-controlled board (ratings/boards.py), retired contenders only if asked for."""
    snapshot = snapshot_latest(category=category)
    if snapshot is None:
        return Leaderboard(snapshot=None, rows=[])
    every = leaderboard_rows(snapshot=snapshot)
    rows = board_rows(every, board=board, with_retired=with_retired, get=_rating_field, put=setattr)
    retired = sum(row.contender.is_retired for row in every)
    return Leaderboard(snapshot=snapshot, rows=rows, retired_count=retired)


def leaderboard_as_dicts(leaderboard: Leaderboard) -> list[dict[str, Any]]:
    """The leaderboard as plain values, best first: what `manage.py leaderboard --json` prints."""
    return [
        {
            "rank": row.rank,
            "name": row.contender.name,
            "bt_rating": round(row.bt_rating, 2),
            "ci_low": round(row.ci_low, 2),
            "ci_high": round(row.ci_high, 2),
            "sandwich_low": round(row.sandwich_low, 2),
            "sandwich_high": round(row.sandwich_high, 2),
            "elo": round(row.elo, 2),
            "win_rate": None if row.win_rate is None else round(row.win_rate, 4),
            "wins": row.wins,
            "losses": row.losses,
            "ties": row.ties,
            "both_bad": row.both_bad,
            "votes": row.votes,
            "preliminary": row.preliminary,
            "retired": row.contender.is_retired,
            "rank_worst": row.rank_worst,
            "robust_votes": row.robust_votes,
            "style_rank": row.style_rank,
            "style_rank_worst": row.style_rank_worst,
            "style_rating": _rounded(row.style_rating),
            "style_low": _rounded(row.style_low),
            "style_high": _rounded(row.style_high),
            "sampling_half_width": _rounded(row.sampling_half_width),
            "sampling_share": None if row.sampling_share is None else round(row.sampling_share, 4),
            "mle_rating": _rounded(row.mle_rating),
            "mle_low": _rounded(row.mle_low),
            "mle_high": _rounded(row.mle_high),
        }
        for row in leaderboard.rows
    ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def contender_vote_counts() -> dict[int, int]:
    """Votes per contender as of the latest overall snapshot (0 for contenders not in it)."""
    snapshot = snapshot_latest()
    if snapshot is None:
        return {}
    return dict(ContenderRating.objects.filter(snapshot=snapshot).values_list("contender_id", "votes"))


def vote_total_counted() -> int:
    """Votes counted in the pair counters of the overall board (every vote recorded and counted)."""
    counted = PairCount.objects.filter(category_key=ALL_CATEGORIES).aggregate(total=Sum("count"))["total"]
    return int(counted or 0)


def categories_with_boards() -> list[Category]:
    """The categories that have a leaderboard of their own (at least one snapshot), by code."""
    with_snapshot = RatingSnapshot.objects.filter(category__isnull=False).values("category_id")
    return list(Category.objects.filter(pk__in=with_snapshot).order_by("code"))


def categories_with_counted_votes() -> list[Category]:
    """The categories whose votes are in the pair counters (their boards can be refreshed)."""
    keys = PairCount.objects.exclude(category_key=ALL_CATEGORIES).values("category_key")
    return list(Category.objects.filter(pk__in=keys))


def matrices_of_snapshot(*, snapshot: RatingSnapshot) -> RatingMatrix | None:
    """A snapshot's pairwise matrices, with the snapshot and its category (matrices are kept for a
    board's newest few snapshots only)."""
    return RatingMatrix.objects.filter(snapshot=snapshot).select_related("snapshot__category").first()


@dataclass(frozen=True)
class RatingPoint:
    time: datetime
    rating: float


def rating_history(
    *,
    category: Category | None,
    contender_ids: list[int],
    days: int = 30,
    max_points: int = 40,
    until: datetime | None = None,
    min_votes: int = 0,
) -> dict[int, list[RatingPoint]]:
    """Each contender's Bradley–Terry rating over a board's snapshots of the `days` before `until`
    (default: now), oldest first; only where it rested on at least `min_votes` votes (a rating from a
    vote or two swings from one end of the scale to the other, and means nothing yet).

    History is thinned to a snapshot a minute over the last day and one a day before, which still
    makes ~1,500 snapshots a month: at most `max_points` snapshots, spread evenly over the period and
    always including the newest, are read. Two queries, whatever the length of the history.
    """
    if not contender_ids or max_points < 1:
        return {}
    until = until or timezone.now()
    snapshots = list(
        RatingSnapshot.objects.filter(
            category=category, created_at__gte=until - timedelta(days=days), created_at__lte=until
        )
        .order_by("created_at", "id")
        .values_list("id", "created_at")
    )
    chosen = _spread(snapshots, max_points)
    history: dict[int, list[RatingPoint]] = {contender_id: [] for contender_id in contender_ids}
    if not chosen:
        return history
    times = dict(chosen)
    rows = ContenderRating.objects.filter(
        snapshot_id__in=list(times), contender_id__in=contender_ids, votes__gte=min_votes
    ).values_list("contender_id", "snapshot_id", "bt_rating")
    for contender_id, snapshot_id, rating in rows:
        history[contender_id].append(RatingPoint(time=times[snapshot_id], rating=rating))
    for points in history.values():
        points.sort(key=lambda point: point.time)
    return history


def _spread(snapshots: list[tuple[int, datetime]], count: int) -> list[tuple[int, datetime]]:
    """At most `count` of the snapshots (oldest first), the newest of each of `count` equal time spans."""
    if len(snapshots) <= count:
        return snapshots
    first, last = snapshots[0][1], snapshots[-1][1]
    span = (last - first) / count
    newest_by_bucket: dict[int, tuple[int, datetime]] = {}
    for snapshot in snapshots:  # oldest first: each span keeps its newest
        bucket = min(count - 1, int((snapshot[1] - first) / span)) if span else 0
        newest_by_bucket[bucket] = snapshot
    return [newest_by_bucket[bucket] for bucket in sorted(newest_by_bucket)]


def pair_vote_matrix(*, snapshot: RatingSnapshot) -> tuple[list[int], list[list[int]]]:
    """The contenders of this snapshot's board (ids) and the votes between each two of them, rows and
    columns in that order, from its stored matrices (two empty lists if it has none)."""
    matrices = RatingMatrix.objects.filter(snapshot=snapshot)
    stored = matrices.values_list("contender_ids", "battle_counts").first()
    return (list(stored[0]), stored[1]) if stored is not None else ([], [])


def boards_newest() -> list[RatingSnapshot]:
    """The newest snapshot of every board (the overall one first), with its category."""
    newest = RatingSnapshot.objects.values("category_id").annotate(newest=Max("id")).values("newest")
    snapshots = RatingSnapshot.objects.filter(pk__in=newest).select_related("category")
    return sorted(
        snapshots, key=lambda snapshot: (snapshot.category_id is not None, snapshot.category_id or 0)
    )


def snapshot_at(*, moment: datetime, category: Category | None = None) -> RatingSnapshot | None:
    """The board's newest snapshot made at or before `moment`."""
    return (
        snapshots_of_board(category=category).filter(created_at__lte=moment).order_by("-created_at").first()
    )


def ranks_of_snapshot(*, snapshot: RatingSnapshot) -> dict[int, int]:
    """Each contender's rank on that snapshot, by contender id."""
    return dict(ContenderRating.objects.filter(snapshot=snapshot).values_list("contender_id", "rank"))


def with_category_names(rows: QuerySet[Any]) -> QuerySet[Any]:
    """Rows kept per category key (pair counters, Elo), each with its category's `category_name`
    (empty for every category together), in the same query."""
    name = Category.objects.filter(pk=OuterRef("category_key")).values("name")[:1]
    return rows.annotate(category_name=Coalesce(Subquery(name), Value("")))


def categories_by_code() -> list[Category]:
    return list(Category.objects.order_by("code"))


def ratings_recount_pending() -> bool:
    """Votes were left out or restored since the last refresh: the pair counters do not show it yet."""
    return RatingsState.objects.filter(recount_requested_at__isnull=False).exists()
