"""What the staff dashboard shows, read from small tables (contenders, workers, periodic runs),
partial indexes (open battles, unfinished and failed answers, answers of the last day) and the pair
counters the ratings keep: never a scan of the vote or battle tables."""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Window

from battles.models import Answer, Battle, Contender, Question, QuestionVotes
from battles.selectors import battle_counts_up_to, contenders_in_the_draw
from ratings.selectors import snapshot_latest


@dataclass
class ContenderHealth:
    """One contender's state and its answers of the last hour and day."""

    id: int
    name: str
    is_active: bool
    is_endpoint: bool
    paused_until: datetime | None
    paused_reason: str
    consecutive_failures: int
    max_concurrent_requests: int
    running: int = 0
    done_hour: int = 0
    failed_hour: int = 0
    done_day: int = 0
    failed_day: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    first_token_p50_ms: float | None = None
    first_token_p95_ms: float | None = None
    tokens_per_second: float | None = None
    last_error: str = ""
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None

    @property
    def state(self) -> str:
        if not self.is_active:
            return "inactive"
        return "paused" if self.paused_until is not None else "active"

    @property
    def success_rate(self) -> float | None:
        finished = self.done_day + self.failed_day
        return self.done_day / finished if finished else None


_CONTENDER_FIELDS = [
    "id",
    "name",
    "is_active",
    "paused_until",
    "paused_reason",
    "consecutive_failures",
    "max_concurrent_requests",
    "last_error",
    "last_failure_at",
    "last_success_at",
]


def contenders_health(*, now: datetime) -> list[ContenderHealth]:
    """Every contender, by name, with its answers of the last hour and day (three queries)."""
    rows = []
    for values in Contender.objects.order_by("name").values(*_CONTENDER_FIELDS, "kind"):
        kind = values.pop("kind")
        rows.append(ContenderHealth(**values, is_endpoint=kind == Contender.Kind.ENDPOINT))
    by_id = {row.id: row for row in rows}
    running = (
        Answer.objects.filter(status=Answer.Status.RUNNING).values_list("contender_id").annotate(Count("id"))
    )
    for contender_id, count in running:
        by_id[contender_id].running = count
    stats = _answer_stats_sql(now) if connection.vendor == "postgresql" else _answer_stats_python(now)
    for contender_id, values in stats.items():
        if contender_id in by_id:
            for name, value in values.items():
                setattr(by_id[contender_id], name, value)
    return rows


_STATS_SQL = """
SELECT contender_id,
       count(*) FILTER (WHERE status = 'done' AND finished_at >= %(hour)s),
       count(*) FILTER (WHERE status = 'failed' AND finished_at >= %(hour)s),
       count(*) FILTER (WHERE status = 'done'),
       count(*) FILTER (WHERE status = 'failed'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status = 'done'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status = 'done'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_token_ms) FILTER (WHERE status = 'done'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY first_token_ms) FILTER (WHERE status = 'done'),
       sum(completion_tokens) FILTER (WHERE status = 'done' AND latency_ms > 0),
       sum(latency_ms) FILTER (WHERE status = 'done' AND latency_ms > 0 AND completion_tokens IS NOT NULL)
FROM battles_answer
WHERE finished_at >= %(day)s
GROUP BY contender_id
"""
_STAT_NAMES = [
    "done_hour",
    "failed_hour",
    "done_day",
    "failed_day",
    "latency_p50_ms",
    "latency_p95_ms",
    "first_token_p50_ms",
    "first_token_p95_ms",
]


def _answer_stats_sql(now: datetime) -> dict[int, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(_STATS_SQL, {"hour": now - timedelta(hours=1), "day": now - timedelta(days=1)})
        rows = cursor.fetchall()
    stats = {}
    for contender_id, *values, tokens, latency_ms in rows:
        stats[contender_id] = dict(zip(_STAT_NAMES, values, strict=True))
        stats[contender_id]["tokens_per_second"] = (
            tokens * 1000 / latency_ms if tokens and latency_ms else None
        )
    return stats


def _answer_stats_python(now: datetime) -> dict[int, dict[str, Any]]:
    """The same figures where the database has no percentile function (the embedded SQLite)."""
    hour = now - timedelta(hours=1)
    grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in Answer.objects.filter(finished_at__gte=now - timedelta(days=1)).values_list(
        "contender_id", "status", "finished_at", "latency_ms", "first_token_ms", "completion_tokens"
    ):
        grouped[row[0]].append(row[1:])
    stats = {}
    for contender_id, answers in grouped.items():
        done = [answer for answer in answers if answer[0] == Answer.Status.DONE]
        latencies = [answer[2] for answer in done if answer[2] is not None]
        first_tokens = [answer[3] for answer in done if answer[3] is not None]
        timed = [(answer[4], answer[2]) for answer in done if answer[4] is not None and answer[2]]
        stats[contender_id] = {
            "done_hour": sum(1 for answer in done if answer[1] >= hour),
            "failed_hour": sum(1 for a in answers if a[0] == Answer.Status.FAILED and a[1] >= hour),
            "done_day": len(done),
            "failed_day": sum(1 for answer in answers if answer[0] == Answer.Status.FAILED),
            "latency_p50_ms": _percentile(latencies, 0.5),
            "latency_p95_ms": _percentile(latencies, 0.95),
            "first_token_p50_ms": _percentile(first_tokens, 0.5),
            "first_token_p95_ms": _percentile(first_tokens, 0.95),
            "tokens_per_second": (
                sum(t for t, _ in timed) * 1000 / sum(ms for _, ms in timed) if timed else None
            ),
        }
    return stats


def _percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1])


@dataclass
class StateCount:
    state: str
    count: int
    oldest_at: datetime | None = None
    counted_up_to: int | None = None  # the count stopped there: there are at least this many

    @property
    def is_capped(self) -> bool:
        return self.counted_up_to is not None and self.count >= self.counted_up_to


@dataclass
class PoolState:
    battles: list[StateCount] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int | None] = field(default_factory=dict)


def pool_state(*, voted: int, up_to: int, queues: dict[str, int | None]) -> PoolState:
    """Battles by state with the oldest of each, each state counted up to `up_to` (voted ones:
    `voted`, counted by the ratings, not in the battle table), answers waiting or failed, and the
    broker's `queues` (readiness(queue_depths=True)'s)."""
    state = PoolState()
    shown = (Battle.Status.GENERATING, Battle.Status.READY, Battle.Status.SERVED, Battle.Status.RETIRED)
    counts = battle_counts_up_to(statuses=[str(status) for status in shown], up_to=up_to)
    for status in shown:
        # Each state's oldest from its own partial index, not from the table's voted rows.
        oldest = Battle.objects.filter(status=status).aggregate(oldest=Min("created_at"))["oldest"]
        state.battles.append(StateCount(str(status), counts[str(status)], oldest, counted_up_to=up_to))
    state.battles.insert(3, StateCount(str(Battle.Status.VOTED), voted))
    unfinished = dict(
        Answer.objects.filter(status__in=[Answer.Status.PENDING, Answer.Status.RUNNING])
        .values_list("status")
        .annotate(Count("id"))
    )
    state.answers = {
        "pending": unfinished.get(Answer.Status.PENDING, 0),
        "running": unfinished.get(Answer.Status.RUNNING, 0),
        "failed": Answer.objects.filter(status=Answer.Status.FAILED).count(),
    }
    state.queues = queues
    return state


def unbattled(*, limit: int = 20) -> dict[str, Any]:
    """Active questions in no battle yet (the first few, and how many), and the contenders in the draw
    (battles.selectors.contenders_in_the_draw) in none."""
    battled_question = Battle.objects.filter(question=OuterRef("pk"))
    # A question with votes in the tallies has been in a battle: the battle table is searched for the
    # others only (thousands of lookups otherwise, on every page).
    voted = QuestionVotes.objects.filter(votes__gt=0).values("question_id")
    questions = list(
        Question.objects.filter(is_active=True)
        .exclude(pk__in=voted)
        .exclude(Exists(battled_question))
        .annotate(total=Window(Count("*")))  # how many, in the same statement
        .order_by("id")
        .values("id", "text", "total")[: max(limit, 1)]
    )
    in_a = Battle.objects.filter(contender_a=OuterRef("pk"))
    in_b = Battle.objects.filter(contender_b=OuterRef("pk"))
    contenders = contenders_in_the_draw().exclude(Exists(in_a)).exclude(Exists(in_b))
    return {
        "questions": [{"id": row["id"], "text": row["text"]} for row in questions[:limit]],
        "question_count": questions[0]["total"] if questions else 0,
        "contenders": list(contenders.order_by("name").values("id", "name")),
    }


def snapshot_lag(*, now: datetime) -> dict[str, Any]:
    """The overall board's newest snapshot: its age, and whether votes arrived after it."""
    from battles.selectors import vote_newest_id

    latest = snapshot_latest()
    newest_vote = vote_newest_id()
    return {
        "created_at": latest.created_at if latest else None,
        "age_seconds": (now - latest.created_at).total_seconds() if latest else None,
        "votes_behind": newest_vote is not None and (latest is None or latest.last_vote_id != newest_vote),
    }
