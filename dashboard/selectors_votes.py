"""The dashboard's votes, boards and coverage: from the vote tallies (battles/models/tallies.py), the
pair counters and the snapshots; never the vote table."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings

from battles.models import Category, Contender, Question, QuestionVotes, VoteDay, VoteHour
from battles.selectors import contenders_in_the_draw
from battles.services.tallies import DECISION_BUCKETS, VOTES_PER_VOTER_BUCKETS
from ratings.selectors import boards_newest, pair_vote_matrix, ranks_of_snapshot, snapshot_at

HOURS_SHOWN = 48
DAYS_SHOWN = 90
VOTER_DAYS = 7
MOVERS_SHOWN = 15


@dataclass
class VotesOverview:
    hours: list[tuple[datetime, int]] = field(default_factory=list)
    days: list[tuple[date, int]] = field(default_factory=list)
    rejections: list[tuple[str, int]] = field(default_factory=list)  # last 24 hours, most first
    last_hour_votes: int = 0
    last_hour_rejected: int = 0
    decisions: list[tuple[str, int]] = field(default_factory=list)  # last 48 hours
    voters_new: int = 0  # last VOTER_DAYS days
    voters_returning: int = 0
    votes_per_voter: list[tuple[str, int]] = field(default_factory=list)  # voter-days, last VOTER_DAYS
    top_ip_hashes: list[tuple[str, int]] = field(default_factory=list)  # today

    @property
    def rejected_share(self) -> float | None:
        attempts = self.last_hour_votes + self.last_hour_rejected
        return self.last_hour_rejected / attempts if attempts else None


def _utc_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def votes_overview(*, now: datetime) -> VotesOverview:
    """Votes per hour (48) and per day (90), refused votes, time to decide, voters (two queries)."""
    overview = VotesOverview()
    current = _utc_hour(now)
    hours = {
        row.hour: row for row in VoteHour.objects.filter(hour__gt=current - timedelta(hours=HOURS_SHOWN))
    }
    shown = [current - timedelta(hours=step) for step in reversed(range(HOURS_SHOWN))]
    overview.hours = [(hour, hours[hour].votes if hour in hours else 0) for hour in shown]
    rejections: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    for row in hours.values():
        decisions.update(row.decisions)
        if row.hour > current - timedelta(hours=24):
            rejections.update(row.rejections)
        if row.hour >= current - timedelta(hours=1):
            overview.last_hour_votes += row.votes
            overview.last_hour_rejected += sum(row.rejections.values())
    overview.rejections = rejections.most_common()
    overview.decisions = [(name, decisions.get(name, 0)) for name, _ in DECISION_BUCKETS]

    today = now.astimezone(UTC).date()
    shown_days = VoteDay.objects.filter(day__gt=today - timedelta(days=DAYS_SHOWN)).defer("questions")
    days = {row.day: row for row in shown_days}
    overview.days = [
        (day, days[day].votes if day in days else 0)
        for day in (today - timedelta(days=step) for step in reversed(range(DAYS_SHOWN)))
    ]
    per_voter: Counter[str] = Counter()
    for day, tally in days.items():
        if day > today - timedelta(days=VOTER_DAYS):
            overview.voters_new += tally.voters_new
            overview.voters_returning += tally.voters_returning
            per_voter.update(tally.votes_per_voter)
    overview.votes_per_voter = [(name, per_voter.get(name, 0)) for name, _ in VOTES_PER_VOTER_BUCKETS]
    if today in days:
        overview.top_ip_hashes = [(ip_hash, votes) for ip_hash, votes in days[today].top_ip_hashes]
    return overview


@dataclass
class BoardAge:
    name: str
    created_at: datetime
    age_seconds: float
    vote_count: int
    vote_lag_ms: int | None


@dataclass
class Coverage:
    boards: list[BoardAge] = field(default_factory=list)
    rank_changes: list[dict[str, Any]] = field(default_factory=list)  # name, rank, change (None: new)
    categories: list[tuple[str, int]] = field(default_factory=list)  # with votes, most first
    categories_without_votes: int = 0
    questions_fewest: list[dict[str, Any]] = field(default_factory=list)  # active, fewest votes first
    question_votes_median: float | None = None
    pairs_total: int = 0
    pairs_few: int = 0  # pairs of contenders in the draw with fewer than ARENA_DASHBOARD_FEW_PAIR_VOTES
    pairs_fewest: list[dict[str, Any]] = field(default_factory=list)
    matrix_names: list[str] = field(default_factory=list)
    matrix: list[list[int | None]] = field(default_factory=list)

    @property
    def rank_movers(self) -> list[dict[str, Any]]:
        """The contenders whose rank changed since yesterday: new ones first, then the biggest moves."""
        moved = [row for row in self.rank_changes if row["change"] != 0]
        moved.sort(key=lambda row: (row["change"] is not None, -abs(row["change"] or 0), row["rank"]))
        return moved[:MOVERS_SHOWN]

    @property
    def rank_movers_not_shown(self) -> int:
        return max(0, sum(1 for row in self.rank_changes if row["change"] != 0) - MOVERS_SHOWN)

    @property
    def rank_unchanged(self) -> int:
        return sum(1 for row in self.rank_changes if row["change"] == 0)


def coverage(*, now: datetime, questions_shown: int = 15, matrix_size: int = 30) -> Coverage:
    """Board ages, rank changes since yesterday, votes per category and per pair (as of each board's
    newest snapshot), votes per question."""
    result = Coverage()
    boards = boards_newest()
    for snapshot in boards:
        result.boards.append(
            BoardAge(
                name=snapshot.category.display_name if snapshot.category else "",
                created_at=snapshot.created_at,
                age_seconds=(now - snapshot.created_at).total_seconds(),
                vote_count=snapshot.vote_count,
                vote_lag_ms=snapshot.vote_lag_ms,
            )
        )
    names = dict(Contender.objects.values_list("id", "name"))
    overall = next((snapshot for snapshot in boards if snapshot.category_id is None), None)
    if overall is not None:
        result.rank_changes = _rank_changes(overall, names, now=now)
    categories = {snapshot.category_id: snapshot.vote_count for snapshot in boards if snapshot.category_id}
    named = [(category.pk, category.display_name) for category in Category.objects.order_by("code")]
    result.categories = sorted(
        ((name, categories[category_id]) for category_id, name in named if categories.get(category_id)),
        key=lambda item: -item[1],
    )
    result.categories_without_votes = sum(1 for category_id, _ in named if not categories.get(category_id))
    _questions_coverage(result, shown=questions_shown)
    _pairs_coverage(
        result,
        names,
        pair_vote_matrix(snapshot=overall) if overall is not None else ([], []),
        ranked=[row["id"] for row in result.rank_changes],
        size=matrix_size,
    )
    return result


def _rank_changes(overall: Any, names: dict[int, str], *, now: datetime) -> list[dict[str, Any]]:
    ranks = ranks_of_snapshot(snapshot=overall)
    yesterday = snapshot_at(moment=now - timedelta(days=1))
    before = ranks_of_snapshot(snapshot=yesterday) if yesterday is not None else {}
    return [
        {
            "id": contender_id,
            "name": names.get(contender_id, "?"),
            "rank": rank,
            "change": (before[contender_id] - rank) if contender_id in before else None,
        }
        for contender_id, rank in sorted(ranks.items(), key=lambda item: (item[1], names.get(item[0], "")))
    ]


def _questions_coverage(result: Coverage, *, shown: int) -> None:
    """Votes per active question: final days' totals plus the days still counted."""
    votes = dict(QuestionVotes.objects.values_list("question_id", "votes"))
    for questions in VoteDay.objects.filter(is_final=False).values_list("questions", flat=True):
        for question_id, count in questions.items():
            votes[int(question_id)] = votes.get(int(question_id), 0) + count
    active = list(Question.objects.filter(is_active=True).values_list("id", "text"))
    ordered = sorted(active, key=lambda row: (votes.get(row[0], 0), row[0]))
    result.questions_fewest = [
        {"id": question_id, "text": text, "votes": votes.get(question_id, 0)}
        for question_id, text in ordered[:shown]
    ]
    counts = sorted(votes.get(question_id, 0) for question_id, _ in active)
    if counts:
        middle = len(counts) // 2
        result.question_votes_median = (
            float(counts[middle]) if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2
        )


def _pairs_coverage(
    result: Coverage,
    names: dict[int, str],
    board: tuple[list[int], list[list[int]]],
    *,
    ranked: list[int],
    size: int,
) -> None:
    """Pairs of contenders in the draw (battles.selectors.contenders_in_the_draw) by votes on the
    board (`board`: pair_vote_matrix()): how many have few, the fewest, and the matrix of the `size`
    best-ranked (then by name) contenders."""
    few = settings.ARENA_DASHBOARD_FEW_PAIR_VOTES
    place = {contender_id: index for index, contender_id in enumerate(ranked)}
    active = sorted(
        contenders_in_the_draw().values_list("id", flat=True),
        key=lambda contender_id: (place.get(contender_id, len(ranked)), names.get(contender_id, "")),
    )
    board_ids, board_votes = board
    on_board = {contender_id: index for index, contender_id in enumerate(board_ids)}
    # Votes between contenders in the draw, in their order (none for one not on the board yet).
    votes = np.zeros((len(active), len(active)), dtype=np.int64)
    shown_rows = [index for index, contender_id in enumerate(active) if contender_id in on_board]
    if shown_rows:
        rows = [on_board[active[index]] for index in shown_rows]
        votes[np.ix_(shown_rows, shown_rows)] = np.asarray(board_votes, dtype=np.int64)[np.ix_(rows, rows)]
    first, second = np.triu_indices(len(active), k=1)
    pair_votes = votes[first, second]
    result.pairs_total = int(pair_votes.size)
    result.pairs_few = int((pair_votes < few).sum())
    fewest = np.lexsort((second, first, pair_votes))[:15]  # fewest votes first, then by rank
    result.pairs_fewest = [
        {"a": names[active[first[k]]], "b": names[active[second[k]]], "votes": int(pair_votes[k])}
        for k in fewest
    ]
    shown = min(size, len(active))
    result.matrix_names = [names[contender_id] for contender_id in active[:shown]]
    corner = votes[:shown, :shown].tolist()
    result.matrix = [
        [None if row == column else corner[row][column] for column in range(shown)] for row in range(shown)
    ]
