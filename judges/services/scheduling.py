"""What gets judged: every voted battle (for judges that judge them), a share of the ready battles
before any voter sees them, and every ready battle of a model the voters have not rated yet (so it
gets a judge rating first). Each battle is judged in both orders; a judge never judges a battle it
takes part in. A judge is given no more work than today's budget of calls can pay for.

Run by a periodic task (verdicts_schedule_task), never in a vote's transaction: the vote path does
not pay for the judges.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from battles.models import Battle, Vote
from judges.models import Judge, JudgeDay, Verdict
from ratings.models import ContenderRating
from ratings.selectors import snapshot_latest

logger = logging.getLogger(__name__)

# Votes looked at per judge and pass: a judge added to an arena with a million votes catches up in
# steps, as its budget allows.
VOTES_PER_PASS = 5000
# Verdicts queued again per pass (retries that are due, and tasks the broker lost).
REQUEUE_PER_PASS = 2000
# A queued verdict is stamped to be queued again after this long, should its task be lost.
LOST_AFTER = timedelta(minutes=5)
_HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: a battle's place in [0, 1), stable


def ready_share_picks(battle_id: int, share: float) -> bool:
    """Whether a ready battle falls in a judge's share: decided by its id, so every pass agrees."""
    return ((battle_id * _HASH_MULTIPLIER) % 2**32) / 2**32 < share


@dataclass
class ScheduleReport:
    created: dict[int, int] = field(default_factory=dict)  # judge id → verdicts created
    queued: list[int] = field(default_factory=list)  # verdict ids queued


def cold_start_contender_ids() -> set[int]:
    """Contenders the voters have not rated yet: not on the human board, or with fewer votes than
    ARENA_PRELIMINARY_VOTES there."""
    from battles.selectors import contenders_in_the_draw

    snapshot = snapshot_latest()
    settled: set[int] = set()
    if snapshot is not None:
        settled = set(
            ContenderRating.objects.filter(
                snapshot=snapshot, votes__gte=settings.ARENA_PRELIMINARY_VOTES
            ).values_list("contender_id", flat=True)
        )
    drawable = contenders_in_the_draw()
    return set(drawable.values_list("id", flat=True)) - settled


def _room(judge: Judge, today: date) -> int:
    """Verdicts the judge can still take on today: its calls left, less the verdicts waiting."""
    spent = JudgeDay.objects.filter(judge=judge, day=today).values_list("calls", flat=True).first() or 0
    waiting = Verdict.objects.filter(
        judge=judge, status__in=[Verdict.Status.PENDING, Verdict.Status.RUNNING]
    ).count()
    return judge.daily_call_budget - spent - waiting


def _rows(judge: Judge, battles: list[tuple[int, int, int, int, int, int | None]]) -> list[Verdict]:
    return [
        Verdict(
            judge=judge,
            battle_id=battle_id,
            order=order,
            contender_a_id=contender_a,
            contender_b_id=contender_b,
            answer_a_id=answer_a,
            answer_b_id=answer_b,
            category_id=category_id,
        )
        for battle_id, contender_a, contender_b, answer_a, answer_b, category_id in battles
        for order in (Verdict.Order.AS_SHOWN, Verdict.Order.SWAPPED)
    ]


_BATTLE_FIELDS = (
    "contender_a_id",
    "contender_b_id",
    "answer_a_id",
    "answer_b_id",
    "question__category_id",
)


def _voted_battles(judge: Judge, limit: int) -> list[tuple[int, int, int, int, int, int | None]]:
    """Voted battles after the judge's watermark, up to `limit`, and the watermark moved past them."""
    rows = list(
        Vote.objects.filter(id__gt=judge.scheduled_through_vote_id, battle__isnull=False)
        .order_by("id")
        .values_list("id", "battle_id", *(f"battle__{name}" for name in _BATTLE_FIELDS))[:limit]
    )
    if rows:
        Judge.objects.filter(pk=judge.pk).update(scheduled_through_vote_id=rows[-1][0])
    own = judge.contender_id
    # Battles judged while they were ready are not judged again (nor counted against the room).
    judged = set(
        Verdict.objects.filter(judge=judge, battle_id__in=[row[1] for row in rows]).values_list(
            "battle_id", flat=True
        )
    )
    return [row[1:] for row in rows if own not in (row[2], row[3]) and row[1] not in judged]


def _ready_battles(
    judge: Judge, limit: int, cold: set[int]
) -> list[tuple[int, int, int, int, int, int | None]]:
    own = judge.contender_id
    candidates = (
        Battle.objects.filter(status=Battle.Status.READY)
        .exclude(Q(contender_a_id=own) | Q(contender_b_id=own))
        .exclude(verdicts__judge=judge)
        .order_by("id")
        .values_list("id", *_BATTLE_FIELDS)
    )
    picked = []
    for row in candidates.iterator(chunk_size=2000):
        if row[1] in cold or row[2] in cold or ready_share_picks(row[0], judge.ready_share):
            picked.append(row)
            if len(picked) >= limit:
                break
    return picked


def verdicts_schedule() -> ScheduleReport:
    """Create the verdicts the active judges owe and queue them, with what is due again."""
    report = ScheduleReport()
    today = timezone.now().date()
    cold = cold_start_contender_ids()
    for judge in Judge.objects.filter(is_active=True).select_related("contender"):
        room = _room(judge, today) // 2  # battles: two verdicts each
        battles: list[tuple[int, int, int, int, int, int | None]] = []
        with transaction.atomic():
            if room > 0 and judge.judges_voted:
                battles += _voted_battles(judge, min(room, VOTES_PER_PASS))
            if room - len(battles) > 0:
                battles += _ready_battles(judge, room - len(battles), cold)
            if battles:
                Verdict.objects.bulk_create(_rows(judge, battles), ignore_conflicts=True)
        if battles:
            report.created[judge.pk] = len(battles) * 2
    report.queued = verdicts_requeue()
    if report.created:
        logger.info("verdicts scheduled: %s", report.created)
    return report


def verdicts_requeue() -> list[int]:
    """Queue the verdicts that are due: new ones, retries whose time has come, running ones whose lease
    ran out (their worker died), and those whose task was lost. Duplicates are harmless: a call
    claims its verdict first."""
    from judges.tasks import verdict_judge_task

    now = timezone.now()
    Verdict.objects.filter(status=Verdict.Status.RUNNING, lease_expires_at__lt=now).update(
        status=Verdict.Status.PENDING, claim_token=None, lease_expires_at=None, retry_at=None
    )
    due = list(
        Verdict.objects.filter(status=Verdict.Status.PENDING, judge__is_active=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))  # never queued, or due
        .order_by("id")
        .values_list("id", flat=True)[:REQUEUE_PER_PASS]
    )
    if not due:
        return []
    # Stamped, so the next pass does not queue them again while they wait in the broker.
    Verdict.objects.filter(id__in=due).update(retry_at=now + LOST_AFTER)
    for verdict_id in due:
        transaction.on_commit(partial(verdict_judge_task.delay, verdict_id), robust=True)
    return due
