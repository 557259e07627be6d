"""Keeping generation healthy: probing paused contenders, and sweeping up after crashed workers."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from battles import endpoints
from battles.models import Answer, AnswerAttempt, Battle, Contender
from battles.services.generation import battles_advance_for_answer, chat_request_build
from battles.services.pool import SERVABLE

logger = logging.getLogger(__name__)

# A pending answer whose retry is this late has lost its task message (a broker without persistence,
# a purged queue): queue it again. Duplicate messages are harmless, the claim decides.
_OVERDUE_RETRY_SECONDS = 120


@dataclass(frozen=True)
class ProbeResult:
    is_ok: bool
    detail: str
    latency_ms: int | None = None


def contender_probe(*, contender: Contender) -> ProbeResult:
    """One short request to the contender's endpoint (also the admin's "test endpoint" action)."""
    if not contender.is_endpoint:
        return ProbeResult(False, "offline contender: there is no endpoint to test")
    try:
        completion = endpoints.chat_completion(chat_request_build(contender=contender, probe=True))
    except endpoints.EndpointError as error:
        return ProbeResult(False, str(error))
    return ProbeResult(True, f"answered {completion.text[:80]!r}", completion.latency_ms)


def contenders_probe_due() -> dict[str, bool]:
    """Probe contenders paused after failures whose cool-down is over; restore those that answer."""
    results: dict[str, bool] = {}
    for contender in Contender.objects.filter(paused_until__lte=timezone.now(), is_active=True):
        result = contender_probe(contender=contender)
        now = timezone.now()
        if result.is_ok:
            Contender.objects.filter(pk=contender.pk).update(
                paused_until=None, consecutive_failures=0, last_success_at=now
            )
            logger.warning("contender %s restored: %s", contender.name, result.detail)
        else:
            Contender.objects.filter(pk=contender.pk).update(
                paused_until=now + timedelta(seconds=settings.ARENA_CONTENDER_COOLDOWN_SECONDS),
                last_error=result.detail[:2000],
                last_failure_at=now,
            )
            logger.warning("contender %s still failing: %s", contender.name, result.detail)
        results[contender.name] = result.is_ok
    return results


@dataclass
class SweepReport:
    answers_requeued: list[int] = field(default_factory=list)
    answers_failed: list[int] = field(default_factory=list)  # lost at the attempt limit
    retries_requeued: list[int] = field(default_factory=list)
    battles_retired: int = 0
    battles_made_ready: int = 0
    battles_returned: int = 0


def answers_sweep() -> SweepReport:
    """Return answers whose worker vanished to the queue; retire battles whose answers never came."""
    from battles.tasks import answer_generate_task

    now = timezone.now()
    report = SweepReport()
    expired = list(
        Answer.objects.filter(status=Answer.Status.RUNNING, lease_expires_at__lt=now).values_list(
            "id", "attempts", "started_at", "claim_token"
        )
    )
    lost = "no result before the lease ran out: the worker crashed or was stopped"
    for answer_id, attempts, started_at, token in expired:
        # A lost attempt counts like any other (it was counted when claimed): at the limit the answer
        # fails, so that an answer that crashes its worker every time cannot loop for ever.
        give_up = attempts >= settings.ARENA_GENERATION_MAX_ATTEMPTS
        with transaction.atomic():
            claim = Answer.objects.filter(pk=answer_id, status=Answer.Status.RUNNING, claim_token=token)
            common = {"claim_token": None, "lease_expires_at": None}
            if give_up:
                returned = claim.update(
                    status=Answer.Status.FAILED,
                    finished_at=now,
                    error=f"{lost} ({attempts} attempts, the limit)",
                    **common,
                )
            else:
                returned = claim.update(
                    status=Answer.Status.PENDING,
                    retry_at=now,
                    error="the worker stopped answering; back in the queue",
                    **common,
                )
            if not returned:
                continue
            AnswerAttempt.objects.create(
                answer_id=answer_id,
                number=attempts,
                started_at=started_at or now,
                finished_at=now,
                outcome=AnswerAttempt.Outcome.LOST,
                error=lost,
            )
            if give_up:
                report.battles_retired += battles_advance_for_answer(
                    answer=Answer(pk=answer_id, status=Answer.Status.FAILED)
                )
            else:
                transaction.on_commit(partial(answer_generate_task.delay, answer_id))
        (report.answers_failed if give_up else report.answers_requeued).append(answer_id)
    overdue = Answer.objects.filter(
        status=Answer.Status.PENDING, retry_at__lt=now - timedelta(seconds=_OVERDUE_RETRY_SECONDS)
    )
    report.retries_requeued = list(overdue.values_list("id", flat=True))
    overdue.filter(pk__in=report.retries_requeued).update(retry_at=now)
    for answer_id in report.retries_requeued:
        answer_generate_task.delay(answer_id)
    # Both answers done but the battle still waiting: cannot happen with the locks in
    # battles_advance_for_answer, and would cost a pool slot for good if it ever did.
    report.battles_made_ready = Battle.objects.filter(
        status=Battle.Status.GENERATING,
        answer_a__status=Answer.Status.DONE,
        answer_b__status=Answer.Status.DONE,
    ).update(status=Battle.Status.READY, ready_at=now)
    # Held past the hold and never voted on (a closed tab, a link-preview bot, a loop of calls): back
    # to the pool. The holder is remembered, so that a late vote is told what happened.
    report.battles_returned = Battle.objects.filter(
        status=Battle.Status.SERVED,
        served_at__lt=now - timedelta(seconds=settings.ARENA_BATTLE_HOLD_SECONDS),
    ).update(
        status=Battle.Status.READY,
        voter=None,
        served_at=None,
        holder_ip_hash="",
        expired_holder=F("voter"),
    )
    too_old = now - timedelta(seconds=settings.ARENA_BATTLE_GENERATING_TIMEOUT_SECONDS)
    report.battles_retired = Battle.objects.filter(
        Q(created_at__lt=too_old)
        | Q(contender_a__paused_until__isnull=False)
        | Q(contender_b__paused_until__isnull=False),
        status=Battle.Status.GENERATING,
    ).update(status=Battle.Status.RETIRED, retired_reason="its answers did not arrive in time")
    # Deactivated in the admin: the battle can no longer be shown.
    report.battles_retired += (
        Battle.objects.filter(status__in=[Battle.Status.GENERATING, Battle.Status.READY])
        .exclude(SERVABLE)
        .update(status=Battle.Status.RETIRED, retired_reason="its question or a contender was deactivated")
    )
    # A battle drawn for one voter who never came back.
    report.battles_retired += Battle.objects.filter(
        voter__isnull=False,
        status__in=[Battle.Status.GENERATING, Battle.Status.READY],
        created_at__lt=now - timedelta(days=1),
    ).update(status=Battle.Status.RETIRED, retired_reason="drawn for a voter who did not come back")
    if report.answers_requeued or report.answers_failed or report.retries_requeued or report.battles_retired:
        logger.warning(
            "sweep: %s lost answers requeued, %s failed at the attempt limit, %s overdue retries "
            "requeued, %s battles retired",
            len(report.answers_requeued),
            len(report.answers_failed),
            len(report.retries_requeued),
            report.battles_retired,
        )
    return report
