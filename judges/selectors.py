"""Read paths of the judges: the judge board and the agreement figures, for the page, the API and
`manage.py leaderboard --board judge`."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from battles.models import Category
from judges.models import JudgeRating, JudgeSnapshot
from ratings.fragility import rank_spread


@dataclass
class JudgeBoard:
    snapshot: JudgeSnapshot | None
    rows: list[JudgeRating]
    retired_count: int = 0
    # Per category with a judge board of its own: (category, that board's agreement rows).
    categories: list[tuple[Category, list[dict[str, Any]]]] = field(default_factory=list)

    @property
    def agreement(self) -> list[dict[str, Any]]:
        return [] if self.snapshot is None else list(self.snapshot.agreement)


def judge_snapshot_latest(*, category: Category | None = None) -> JudgeSnapshot | None:
    return (
        JudgeSnapshot.objects.select_related("category")
        .filter(category=category)
        .order_by("-created_at", "-id")
        .first()
    )


def judge_ratings_latest() -> dict[int, tuple[float, float, float]]:
    """The newest all-categories judge board: per contender, its rating and 95% interval."""
    snapshot = JudgeSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    if snapshot is None:
        return {}
    rows = snapshot.ratings.values_list("contender_id", "rating", "low", "high")
    return {contender_id: (rating, low, high) for contender_id, rating, low, high in rows}


def judge_board_exists() -> bool:
    return JudgeSnapshot.objects.exists()


def judge_snapshot_find(*, snapshot_id: int) -> JudgeSnapshot | None:
    return JudgeSnapshot.objects.select_related("category").filter(pk=snapshot_id).first()


def judge_board_latest(
    *,
    category: Category | None = None,
    with_retired: bool = False,
    with_categories: bool = False,
    snapshot: JudgeSnapshot | None = None,
) -> JudgeBoard:
    """The newest judge board (all categories, or one; or the snapshot given), best first, retired
    contenders only if asked for (the ranks then counted among those shown); with the agreement of
    each category's board."""
    if snapshot is None:
        snapshot = judge_snapshot_latest(category=category)
    if snapshot is None:
        return JudgeBoard(snapshot=None, rows=[])
    every = list(snapshot.ratings.select_related("contender").order_by("rank", "-rating", "contender__name"))
    shown = [row for row in every if with_retired or not row.contender.is_retired]
    if len(shown) < len(every) and shown:
        best, worst = rank_spread(
            np.asarray([row.low for row in shown], dtype=float),
            np.asarray([row.high for row in shown], dtype=float),
        )
        for row, first, last in zip(shown, best, worst, strict=True):
            row.rank, row.rank_worst = int(first), int(last)
        shown.sort(key=lambda row: (row.rank, -row.rating))
    retired = sum(row.contender.is_retired for row in every)
    board = JudgeBoard(snapshot=snapshot, rows=shown, retired_count=retired)
    if with_categories and category is None:
        board.categories = _category_agreement()
    return board


def _category_agreement() -> list[tuple[Category, list[dict[str, Any]]]]:
    """The agreement of each category's newest judge board, by category code (a board keeps only its
    newest few snapshots: reading them all is cheap)."""
    latest: dict[int, JudgeSnapshot] = {}
    for snapshot in (
        JudgeSnapshot.objects.filter(category__isnull=False)
        .select_related("category")
        .order_by("-created_at", "-id")
    ):
        assert snapshot.category_id is not None
        latest.setdefault(snapshot.category_id, snapshot)
    return sorted(
        ((snapshot.category, list(snapshot.agreement)) for snapshot in latest.values() if snapshot.category),
        key=lambda item: item[0].code,
    )


def judge_rating_as_dict(row: JudgeRating) -> dict[str, Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "rank": row.rank,
        "rank_worst": row.rank_worst,
        "name": row.contender.name,
        "rating": round(row.rating, 2),
        "low": round(row.low, 2),
        "high": round(row.high, 2),
        "style_rating": rounded(row.style_rating),
        "style_low": rounded(row.style_low),
        "style_high": rounded(row.style_high),
        "style_rank": row.style_rank,
        "verdicts": row.verdicts,
        "wins": row.wins,
        "losses": row.losses,
        "ties": row.ties,
        "win_rate": None if row.win_rate is None else round(row.win_rate, 4),
        "human_votes": row.human_votes,
        "human_rating": rounded(row.human_rating),
        "human_rank": row.human_rank,
        "cold_start": row.is_cold_start,
        "retired": row.contender.is_retired,
    }
