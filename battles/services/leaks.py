"""Answers that name a model (battles/leaks.py): marked when saved, kept out of battles, and votes on
battles that showed one left out of the boards; `answers_leak_scan` marks again every answer after
aliases change (or after an upgrade), and applies what it finds."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from arena import stores
from battles.leaks import LeakMatcher
from battles.models import Answer, Battle, Contender, Vote
from battles.services.exclusions import votes_exclude, votes_reason_withdrawn

logger = logging.getLogger(__name__)

LEAKS_MAX_LENGTH = 300
_SCAN_BATCH = 2000
OPEN_STATUSES = [Battle.Status.GENERATING, Battle.Status.READY, Battle.Status.SERVED]


def leak_matcher() -> LeakMatcher:
    """The matcher of every contender's aliases, as stored now."""
    aliases = [alias for row in Contender.objects.values_list("aliases", flat=True) for alias in row or []]
    return LeakMatcher.of(aliases)


def answer_leaks(text: str, matcher: LeakMatcher | None = None) -> str:
    """What an answer's `leaks` field holds: the aliases its text names, comma-separated."""
    found = (matcher or leak_matcher()).find(text)
    return ", ".join(found)[:LEAKS_MAX_LENGTH]


def leaking_answers_kept_out() -> bool:
    return not settings.ARENA_SERVE_LEAKING_ANSWERS


@dataclass(frozen=True)
class LeakScanReport:
    answers_scanned: int
    answers_marked: int  # newly found to name a model
    answers_cleared: int  # no longer name one
    battles_retired: int
    votes_left_out: int
    votes_counted_again: int


def answers_leak_scan(*, progress: Callable[[int], None] | None = None) -> LeakScanReport:
    """Mark every finished answer with the aliases it names, as the contenders' aliases are now; then
    retire open battles showing a leaking answer, leave votes on battles that showed one out of the
    boards, and count again the votes left out for a leak that is no longer one."""
    matcher = leak_matcher()
    scanned = marked = cleared = 0
    last_id = 0
    while True:
        rows = list(
            Answer.objects.filter(status=Answer.Status.DONE, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "text", "leaks")[:_SCAN_BATCH]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        changed = []
        for pk, text, stored in rows:
            leaks = answer_leaks(text, matcher)
            if leaks != stored:
                changed.append(Answer(pk=pk, leaks=leaks))
                marked += bool(leaks and not stored)
                cleared += bool(stored and not leaks)
        Answer.objects.bulk_update(changed, ["leaks"], batch_size=_SCAN_BATCH)
        scanned += len(rows)
        if progress is not None:
            progress(scanned)
    retired, left_out, counted_again = leaks_apply()
    report = LeakScanReport(scanned, marked, cleared, retired, left_out, counted_again)
    logger.info("answers scanned for model names: %s", report)
    return report


def _shows_a_leak() -> Q:
    """A battle one of whose answers names a model."""
    return ~Q(answer_a__leaks="") | ~Q(answer_b__leaks="")


def _vote_shows_a_leak() -> Q:
    """A vote on such a battle."""
    return ~Q(battle__answer_a__leaks="") | ~Q(battle__answer_b__leaks="")


def leaks_apply() -> tuple[int, int, int]:
    """Retire open battles that show a leaking answer (unless ARENA_SERVE_LEAKING_ANSWERS), leave out
    votes on battles that showed one, count again the votes left out for a leak no longer there.
    Returns (battles retired, votes left out, votes counted again)."""
    retired = 0
    with transaction.atomic():
        if leaking_answers_kept_out():
            retired = Battle.objects.filter(_shows_a_leak(), status__in=OPEN_STATUSES).update(
                status=Battle.Status.RETIRED, retired_reason="an answer names a model"
            )
        leaking = Vote.objects.filter(_vote_shows_a_leak(), battle__isnull=False)
        left_out = votes_exclude(
            vote_ids=leaking.exclude(excluded_reasons__contains="leak").values_list("pk", flat=True),
            reason="leak",
        )
        no_longer = Vote.objects.filter(excluded_reasons__contains="leak").exclude(
            _vote_shows_a_leak(), battle__isnull=False
        )
        counted_again = votes_reason_withdrawn(vote_ids=no_longer.values_list("pk", flat=True), reason="leak")
    return retired, left_out, counted_again


def vote_on_a_leak_left_out(*, battle_id: int) -> bool:
    """After a vote: leave it out if its battle showed an answer that names a model (one served while
    leaking answers are allowed, or found leaking while the voter read it)."""
    shows = Battle.objects.filter(_shows_a_leak(), pk=battle_id).exists()
    if not shows:
        return False
    vote_ids = list(Vote.objects.filter(battle_id=battle_id).values_list("pk", flat=True))
    return bool(votes_exclude(vote_ids=vote_ids, reason="leak"))


def answers_leak_scan_request() -> None:
    """Queue a scan once the transaction commits (aliases changed); without a broker, scan here."""
    from battles.tasks import answers_leak_scan_task

    def _queue() -> None:
        stores.call(
            stores.BROKER,
            "queue a scan of the answers for model names",
            lambda: bool(answers_leak_scan_task.delay()),
            fallback=lambda: bool(answers_leak_scan()),
        )

    transaction.on_commit(_queue, robust=True)
