"""Votes counted by hour and by day for the staff dashboard (battles/models/tallies.py).

`votes_tally` runs every minute (beat): it recounts, from the vote table's time index, the hours
and days that are not final yet, and marks them final once they ended FINAL_AFTER ago. The first
run counts every day since the first vote. Refused votes are counted as they happen in the cache
(one increment, no database write: a flood of refused votes costs the database nothing) and copied
into their hour by the tally."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from arena import stores
from arena.locks import one_at_a_time
from battles.models import (
    LATENCY_BUCKETS_SECONDS,
    ContenderLatency,
    Question,
    QuestionVotes,
    Vote,
    VoteDay,
    VoteHour,
)

# An hour or a day is final (never recounted) once it ended this long ago: a vote's time is taken a
# moment before its transaction commits.
FINAL_AFTER = timedelta(minutes=10)
# Hours further back are not counted (the dashboard shows 48). Rows are kept: /metrics sums their
# refused votes into a counter, which must never go down.
HOURS_COUNTED = 72
# Time to decide, in seconds: the upper bound of each bucket (None: no bound).
DECISION_BUCKETS: list[tuple[str, int | None]] = [
    ("0-3", 3),
    ("3-10", 10),
    ("10-30", 30),
    ("30-60", 60),
    ("60-180", 180),
    ("180-600", 600),
    ("600+", None),
]
# Votes of one voter in a day.
VOTES_PER_VOTER_BUCKETS: list[tuple[str, int | None]] = [
    ("1", 1),
    ("2-5", 5),
    ("6-20", 20),
    ("21-100", 100),
    ("101+", None),
]
REJECTION_CODES = [
    "invalid_outcome",
    "unknown_voter",
    "not_served_to_voter",
    "not_open",
    "too_early",
    "voter_rate",
    "ip_rate",
    "daily_cap",
    "proof_missing",
]
TOP_ADDRESSES = 10
NO_BUCKET = "none"
_REJECTIONS_KEPT_SECONDS = 3 * 24 * 3600


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _rejection_key(hour: datetime, code: str) -> str:
    return f"battles:vote-rejections:{hour:%Y%m%d%H}:{code}"


def vote_rejection_count(*, code: str, now: datetime | None = None) -> None:
    """Count a refused vote in its hour (in the cache; without it, the count is lost, never the
    request)."""
    key = _rejection_key(_hour_of(now or timezone.now()), code)

    def increment() -> None:
        cache.add(key, 0, timeout=_REJECTIONS_KEPT_SECONDS)
        cache.incr(key)

    stores.call(stores.CACHE, "count refused votes", increment, fallback=lambda: None)


@dataclass
class TallyReport:
    hours_counted: list[datetime] = field(default_factory=list)
    days_counted: list[date] = field(default_factory=list)
    days_final: list[date] = field(default_factory=list)


def votes_tally(*, now: datetime | None = None) -> TallyReport:
    """Recount the hours and days not final yet; one process at a time."""
    report = TallyReport()

    def tally() -> None:
        moment = now or timezone.now()
        _hours_tally(moment, report)
        _days_tally(moment, report)

    one_at_a_time("votes-tally", work=tally, pending=lambda: False)
    return report


def votes_tally_reset() -> None:
    """Forget the counts of votes: the next tally counts every day again from the first vote, and the
    hours it counts. Refused votes cannot be counted again: hours keep theirs."""
    with transaction.atomic():
        VoteHour.objects.update(is_final=False)
        VoteDay.objects.all().delete()
        QuestionVotes.objects.all().delete()


def _bucket_case(field_name: str, buckets: list[tuple[str, int | None]], scale: int) -> Case:
    # Votes without the figure (imported from logs) are in no bucket.
    whens = [When(**{f"{field_name}__isnull": True}, then=Value(NO_BUCKET))]
    whens += [
        When(**{f"{field_name}__lt": bound * scale}, then=Value(name)) for name, bound in buckets if bound
    ]
    return Case(*whens, default=Value(buckets[-1][0]), output_field=CharField())


def _hours_tally(now: datetime, report: TallyReport) -> None:
    current = _hour_of(now)
    first = current - timedelta(hours=HOURS_COUNTED - 1)
    final = set(VoteHour.objects.filter(hour__gte=first, is_final=True).values_list("hour", flat=True))
    open_hours = [first + timedelta(hours=step) for step in range(HOURS_COUNTED)]
    open_hours = [hour for hour in open_hours if hour not in final]
    if not open_hours:
        return
    counts: dict[datetime, dict[str, int]] = {hour: {} for hour in open_hours}
    rows = (
        Vote.objects.filter(created_at__gte=open_hours[0])
        .annotate(hour=TruncHour("created_at"), bucket=_bucket_case("decision_ms", DECISION_BUCKETS, 1000))
        .values("hour", "bucket")
        .annotate(votes=Count("id"))
    )
    for row in rows:
        hour = _hour_of(row["hour"])
        if hour in counts:
            counts[hour][row["bucket"]] = row["votes"]
    votes = {hour: sum(decisions.values()) for hour, decisions in counts.items()}
    for decisions in counts.values():
        decisions.pop(NO_BUCKET, None)
    rejections = _rejections_read(open_hours)
    for hour in open_hours:
        decisions = counts[hour]
        is_final = hour + timedelta(hours=1) + FINAL_AFTER <= now and rejections is not None
        values: dict[str, Any] = {
            "votes": votes[hour],
            "decisions": decisions,
            "is_final": is_final,
        }
        if rejections is not None:  # without the cache, an hour keeps the refusals it had
            values["rejections"] = rejections.get(hour, {})
        VoteHour.objects.update_or_create(hour=hour, defaults=values)
        report.hours_counted.append(hour)


def _rejections_read(hours: list[datetime]) -> dict[datetime, dict[str, int]] | None:
    """Refused votes of these hours by reason, from the cache; None while it cannot be read."""
    keys = {_rejection_key(hour, code): (hour, code) for hour in hours for code in REJECTION_CODES}
    found = stores.call(
        stores.CACHE, "read refused votes", lambda: cache.get_many(list(keys)), fallback=lambda: None
    )
    if found is None:
        return None
    counts: dict[datetime, dict[str, int]] = {hour: {} for hour in hours}
    for key, value in found.items():
        hour, code = keys[key]
        counts[hour][code] = int(value)
    return counts


def _days_tally(now: datetime, report: TallyReport) -> None:
    newest_final = (
        VoteDay.objects.filter(is_final=True).order_by("-day").values_list("day", flat=True).first()
    )
    if newest_final is not None:
        day = newest_final + timedelta(days=1)
    else:
        first_vote = Vote.objects.order_by("created_at").values_list("created_at", flat=True).first()
        if first_vote is None:
            return
        day = first_vote.astimezone(UTC).date()
    today = now.astimezone(UTC).date()
    while day <= today:
        _day_tally(day, now=now, report=report)
        day += timedelta(days=1)


def _day_tally(day: date, *, now: datetime, report: TallyReport) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    votes = Vote.objects.filter(created_at__gte=start, created_at__lt=end)
    values: dict[str, Any] = {"votes": votes.count()}
    values.update(_voters_of(votes, start=start, end=end))
    values["top_ip_hashes"] = [
        [row["ip_hash"], row["votes"]]
        for row in votes.exclude(ip_hash="")
        .values("ip_hash")
        .annotate(votes=Count("id"))
        .order_by("-votes", "ip_hash")[:TOP_ADDRESSES]
    ]
    values["questions"] = {
        str(row["battle__question_id"]): row["votes"]
        for row in votes.filter(battle__isnull=False)
        .values("battle__question_id")
        .annotate(votes=Count("id"))
    }
    is_final = end + FINAL_AFTER <= now
    with transaction.atomic():
        VoteDay.objects.update_or_create(day=day, defaults={**values, "is_final": is_final})
        if is_final:
            _question_votes_add(values["questions"])
            report.days_final.append(day)
    report.days_counted.append(day)


def _voters_of(votes: Any, *, start: datetime, end: datetime) -> dict[str, Any]:
    """New and returning voters of the day, and voters by their number of votes that day."""
    histogram = dict.fromkeys((name for name, _ in VOTES_PER_VOTER_BUCKETS), 0)
    new = returning = 0
    rows = (
        votes.filter(voter__isnull=False)
        .values("voter_id")
        .annotate(votes=Count("id"), is_new=Count("id", filter=Q(voter__created_at__gte=start)))
    )
    for row in rows:
        if row["is_new"]:
            new += 1
        else:
            returning += 1
        histogram[_bucket_of(row["votes"], VOTES_PER_VOTER_BUCKETS)] += 1
    return {"voters_new": new, "voters_returning": returning, "votes_per_voter": histogram}


def _bucket_of(value: int, buckets: list[tuple[str, int | None]]) -> str:
    for name, bound in buckets:
        if bound is None or value <= bound:
            return name
    return buckets[-1][0]


def _question_votes_add(questions: dict[str, int]) -> None:
    """Add a final day's votes per question to the totals (inside the day's transaction: once)."""
    existing_ids = set(
        Question.objects.filter(pk__in=[int(key) for key in questions]).values_list("id", flat=True)
    )
    totals = dict(
        QuestionVotes.objects.filter(question_id__in=existing_ids).values_list("question_id", "votes")
    )
    rows = [
        QuestionVotes(question_id=question_id, votes=totals.get(question_id, 0) + questions[str(question_id)])
        for question_id in existing_ids
    ]
    QuestionVotes.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["question"], update_fields=["votes"], batch_size=1000
    )


def answer_latency_count(*, contender_id: int, latency_ms: int) -> None:
    """Count a stored answer in its contender's answer-time histogram (inside the answer's transaction)."""
    bucket = next(
        (f"le_{index}" for index, bound in enumerate(LATENCY_BUCKETS_SECONDS) if latency_ms <= bound * 1000),
        "over",
    )
    changes = {"answers": F("answers") + 1, "total_ms": F("total_ms") + latency_ms, bucket: F(bucket) + 1}
    if ContenderLatency.objects.filter(contender_id=contender_id).update(**changes):
        return
    try:
        with transaction.atomic():
            ContenderLatency.objects.create(
                contender_id=contender_id, answers=1, total_ms=latency_ms, **{bucket: 1}
            )
    except IntegrityError:  # another answer of the contender made the row a moment ago
        ContenderLatency.objects.filter(contender_id=contender_id).update(**changes)
