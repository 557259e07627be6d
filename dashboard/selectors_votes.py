"""The dashboard's votes, boards and coverage: from the vote tallies (battles/models/tallies.py), the
pair counters and the snapshots; never the vote table."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings

from battles.models import Category, Contender, Question, QuestionVotes, VoteDay, VoteHour
from battles.services.tallies import DECISION_BUCKETS, VOTES_PER_VOTER_BUCKETS
from ratings.selectors import (
    boards_newest,
    pair_vote_counts,
    ranks_of_snapshot,
    snapshot_at,
    votes_per_category,
)

HOURS_SHOWN = 48
DAYS_SHOWN = 90
VOTER_DAYS = 7


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
    days = {row.day: row for row in VoteDay.objects.filter(day__gt=today - timedelta(days=DAYS_SHOWN))}
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
    pairs_few: int = 0  # pairs of active contenders with fewer than ARENA_DASHBOARD_FEW_PAIR_VOTES
    pairs_fewest: list[dict[str, Any]] = field(default_factory=list)
    matrix_names: list[str] = field(default_factory=list)
    matrix: list[list[int | None]] = field(default_factory=list)


def coverage(*, now: datetime, questions_shown: int = 15, matrix_size: int = 30) -> Coverage:
    """Board ages, rank changes since yesterday, votes per category and question, pair coverage."""
    result = Coverage()
    boards = boards_newest()
    for snapshot in boards:
        result.boards.append(
            BoardAge(
                name=snapshot.category.name if snapshot.category else "",
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
    categories = votes_per_category()
    named = list(Category.objects.order_by("code").values_list("id", "name"))
    result.categories = sorted(
        ((name, categories[category_id]) for category_id, name in named if categories.get(category_id)),
        key=lambda item: -item[1],
    )
    result.categories_without_votes = sum(1 for category_id, _ in named if not categories.get(category_id))
    _questions_coverage(result, shown=questions_shown)
    _pairs_coverage(result, names, ranked=[row["id"] for row in result.rank_changes], size=matrix_size)
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


def _pairs_coverage(result: Coverage, names: dict[int, str], *, ranked: list[int], size: int) -> None:
    """Pairs of active contenders by votes: how many have few, the fewest, and the matrix of the
    `size` best-ranked (then by name) contenders."""
    few = settings.ARENA_DASHBOARD_FEW_PAIR_VOTES
    counts = pair_vote_counts()
    active = sorted(
        Contender.objects.filter(is_active=True).values_list("id", flat=True),
        key=lambda contender_id: (
            ranked.index(contender_id) if contender_id in ranked else len(ranked),
            names.get(contender_id, ""),
        ),
    )
    pairs = [
        (counts.get((min(a, b), max(a, b)), 0), a, b)
        for index, a in enumerate(active)
        for b in active[index + 1 :]
    ]
    result.pairs_total = len(pairs)
    result.pairs_few = sum(1 for votes, _, _ in pairs if votes < few)
    result.pairs_fewest = [
        {"a": names[a], "b": names[b], "votes": votes} for votes, a, b in sorted(pairs)[:15]
    ]
    shown = active[:size]
    result.matrix_names = [names[contender_id] for contender_id in shown]
    result.matrix = [
        [None if a == b else counts.get((min(a, b), max(a, b)), 0) for b in shown] for a in shown
    ]
