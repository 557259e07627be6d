from dataclasses import dataclass
from typing import Any

from ratings.models import ContenderRating, RatingSnapshot


@dataclass(frozen=True)
class Leaderboard:
    snapshot: RatingSnapshot | None
    rows: list[ContenderRating]


def leaderboard_latest() -> Leaderboard:
    """The newest overall snapshot and its rows, best Elo first."""
    snapshot = RatingSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    if snapshot is None:
        return Leaderboard(snapshot=None, rows=[])
    rows = list(snapshot.ratings.select_related("contender").order_by("-elo", "contender__name"))
    return Leaderboard(snapshot=snapshot, rows=rows)


def leaderboard_as_dicts(leaderboard: Leaderboard) -> list[dict[str, Any]]:
    """The leaderboard as plain values, best first: what `manage.py leaderboard --json` prints."""
    return [
        {
            "rank": position,
            "name": row.contender.name,
            "elo": round(row.elo, 2),
            "win_rate": None if row.win_rate is None else round(row.win_rate, 4),
            "wins": row.wins,
            "losses": row.losses,
            "ties": row.ties,
            "both_bad": row.both_bad,
            "votes": row.votes,
        }
        for position, row in enumerate(leaderboard.rows, start=1)
    ]


def contender_vote_counts() -> dict[int, int]:
    """Votes per contender as of the latest overall snapshot (0 for contenders not in it)."""
    snapshot = RatingSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    if snapshot is None:
        return {}
    return dict(ContenderRating.objects.filter(snapshot=snapshot).values_list("contender_id", "votes"))
