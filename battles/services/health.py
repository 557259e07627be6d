"""Keeping generation healthy: probing paused contenders, and sweeping up after crashed workers.

A contender is paused after ARENA_CONTENDER_FAILURE_THRESHOLD failures in a row
(contender_failure_record). Its probes then follow the server, not a fixed clock: the
first after ARENA_CONTENDER_PROBE_FIRST_SECONDS, the next ones at doubling waits up to
ARENA_CONTENDER_PROBE_MAX_SECONDS, each probe queued by the one before (and by the periodic
contenders_probe_task as a backstop). A probe is the real request, so a server that cannot answer
battles cannot pass it. A contender paused again soon after a restore waits longer each time (flaps).
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from battles import endpoints
from battles.models import SEED_RANGE, Answer, AnswerAttempt, Battle, Contender, Question
from battles.rendering import answer_shortfall, storable_text
from battles.services.battle_states import battles_advance_for_answer, battles_retire_waiting_on
from battles.services.endpoint_requests import chat_request_build
from battles.services.pool import SERVABLE

logger = logging.getLogger(__name__)

# A pending answer whose retry is this late has lost its task message (a broker without persistence,
# a purged queue): queue it again. Duplicate messages are harmless, the claim decides.
_OVERDUE_RETRY_SECONDS = 120


def probe_wait_seconds(*, probes_failed: int, flaps: int) -> float:
    """How long a paused contender waits for its next probe.

    5 s, 10 s, 20 s, then every 20 s (the defaults): a server that is back is used again within
    seconds. A contender paused again soon after a probe restored it (a flap) starts and ends each
    series twice as long per flap in a row, up to ARENA_CONTENDER_COOLDOWN_SECONDS.
    """
    first = settings.ARENA_CONTENDER_PROBE_FIRST_SECONDS
    longest = min(
        settings.ARENA_CONTENDER_COOLDOWN_SECONDS,
        settings.ARENA_CONTENDER_PROBE_MAX_SECONDS * 2 ** min(flaps, 30),
    )
    return float(min(longest, first * 2 ** min(probes_failed + flaps, 30)))


def contender_failure_record(*, contender_id: int, error: str, started_at: datetime | None = None) -> bool:
    """Count a failure of a call started at `started_at`; at the threshold, pause the contender from
    battles and schedule its first probe. True if it was paused now.

    The streak stops at the pause: calls that were already under way when it paused fail too, and
    are recorded as the last error, but they are not new evidence. Nor are calls started before a
    probe restored it, which end after: they must not start a new streak (a false flap).
    """
    now = timezone.now()
    threshold = settings.ARENA_CONTENDER_FAILURE_THRESHOLD
    with transaction.atomic():
        health = (
            Contender.objects.select_for_update()
            .filter(pk=contender_id)
            .values_list("consecutive_failures", "paused_until", "flaps", "restored_at")
            .first()
        )
        if health is None:
            return False
        failures, paused_until, flaps, restored_at = health
        changes: dict[str, Any] = {"last_error": error[:2000], "last_failure_at": now}
        is_evidence = paused_until is None and (
            restored_at is None or started_at is None or started_at >= restored_at
        )
        if is_evidence:
            changes["consecutive_failures"] = failures = failures + 1
        if not is_evidence or failures < threshold:
            Contender.objects.filter(pk=contender_id).update(**changes)
            return False
        window = timedelta(seconds=settings.ARENA_CONTENDER_FLAP_WINDOW_SECONDS)
        flaps = flaps + 1 if restored_at is not None and now - restored_at < window else 0
        wait = probe_wait_seconds(probes_failed=0, flaps=flaps)
        reason = f"{failures} failures in a row; the last: {error}"
        if flaps:
            reason += f" (paused again within {window.total_seconds():g} s of a restore: {flaps} in a row)"
        Contender.objects.filter(pk=contender_id).update(
            **changes,
            paused_until=now + timedelta(seconds=wait),
            paused_at=now,
            paused_reason=reason[:2000],
            probes_failed=0,
            flaps=flaps,
        )
        probe_schedule(contender_id=contender_id, in_seconds=wait)
        # After this transaction, in a transaction of its own: battles are locked after the contender
        # here, before it where an answer succeeds, and the two orders together could deadlock.
        transaction.on_commit(
            partial(
                battles_retire_waiting_on,
                contender_id=contender_id,
                reason="its contender was paused after failures",
            ),
            robust=True,
        )
    logger.error("contender %s paused: %s", contender_id, reason)
    return True


def probe_schedule(*, contender_id: int, in_seconds: float) -> None:
    """Queue a probe of a paused contender when the transaction commits (the periodic probe task
    catches any whose message is lost)."""
    from battles.tasks import contender_probe_task

    transaction.on_commit(
        partial(contender_probe_task.apply_async, (contender_id,), countdown=in_seconds), robust=True
    )


# A contender's health once its pause is over (its flaps are kept: the next pause may be one).
PAUSE_CLEARED = {
    "paused_until": None,
    "paused_at": None,
    "paused_reason": "",
    "probes_failed": 0,
    "consecutive_failures": 0,
}


@dataclass(frozen=True)
class ProbeResult:
    is_ok: bool
    detail: str
    latency_ms: int | None = None
    is_cancelled: bool = False  # given up on our side (the worker is shutting down): says nothing


def probe_message(*, name: str, result: ProbeResult) -> str:
    """What staff are told of a probe they asked for (the admin's action, the dashboard's button)."""
    if result.is_ok:
        return _("%(name)s: OK in %(ms)s ms, %(detail)s") % {
            "name": name,
            "ms": result.latency_ms,
            "detail": result.detail,
        }
    return _("%(name)s: %(detail)s") % {"name": name, "detail": result.detail}


def contender_probe(*, contender: Contender, full: bool = False) -> ProbeResult:
    """One request to the contender's endpoint.

    `full`: the request the contender must answer in battles (a question from the bank, its system
    prompt, parameters, streaming, token budget and timeout), which is how a paused contender proves
    it is back; a server that answers short requests but times out on real ones stays paused.
    Otherwise one short request (the admin's "test endpoint" action). An empty answer fails either.
    """
    if not contender.is_endpoint:
        return ProbeResult(False, "offline contender: there is no endpoint to test")
    try:
        if full:
            seed = contender.seed if contender.seed is not None else random.randrange(SEED_RANGE)
            request = chat_request_build(contender=contender, question=_probe_question(), seed=seed)
        else:
            request = chat_request_build(contender=contender, probe=True)
        completion = endpoints.chat_completion(request)
    except endpoints.EndpointError as error:
        return ProbeResult(
            False, str(error), is_cancelled=isinstance(error, endpoints.CancelledEndpointError)
        )
    # The real request must answer as battles need; a short test request, anything at all.
    shortfall = answer_shortfall(storable_text(completion.text)[0], minimum=None if full else 1)
    if shortfall:
        return ProbeResult(
            False,
            f"the model sent {shortfall} (finish_reason {completion.finish_reason or 'none'})",
            completion.latency_ms,
        )
    return ProbeResult(True, f"answered {completion.text[:80]!r}", completion.latency_ms)


def _probe_question() -> Question | None:
    """An active question of the bank, at random (None with an empty bank: the probe then says hello)."""
    active = Question.objects.filter(is_active=True).order_by("id").only("id", "text")
    count = active.count()
    return active[random.randrange(count)] if count else None


def contender_server_slots(*, contender: Contender, follow: bool = False) -> int | None:
    """Read and store what the contender's server says it runs at once (llama.cpp /props); with
    `follow` (a new contender whose limit nobody chose), make that its concurrency limit too."""
    if not contender.is_endpoint:
        return None
    try:
        slots = endpoints.server_slots(chat_request_build(contender=contender, probe=True))
    except endpoints.EndpointError:
        return None
    if slots is None:
        return None
    changes: dict[str, int] = {}
    if slots != contender.server_slots:
        changes["server_slots"] = contender.server_slots = slots
    if follow and contender.max_concurrent_requests != slots:
        changes["max_concurrent_requests"] = contender.max_concurrent_requests = slots
    if changes:
        Contender.objects.filter(pk=contender.pk).update(**changes)
    return slots


def concurrency_warning(contender: Contender) -> str:
    """A warning when the contender may send its server more requests than the server runs at once."""
    if contender.server_slots is None or contender.max_concurrent_requests <= contender.server_slots:
        return ""
    return str(
        _(
            "%(name)s may send %(limit)s requests at once, but its server runs %(slots)s at a time: the "
            "others wait in the server's queue, and their latency and time to first token include that "
            "wait. Lower the maximum concurrent requests to %(slots)s, or start the server with more slots."
        )
        % {
            "name": contender.name,
            "limit": contender.max_concurrent_requests,
            "slots": contender.server_slots,
        }
    )


def contenders_probe_due() -> list[int]:
    """Queue a probe of every paused contender whose probe is due (a backstop for the probes that
    pauses and failed probes schedule themselves); returns their ids."""
    from battles.tasks import contender_probe_task

    due_now = Contender.objects.filter(paused_until__lte=timezone.now(), is_active=True)
    due = list(due_now.values_list("id", flat=True))
    for contender_id in due:
        contender_probe_task.delay(contender_id)
    return due


def contender_recovery_probe(*, contender_id: int) -> bool | None:
    """Probe a paused contender whose probe is due: restore it if it answers, otherwise wait longer
    (probe_wait_seconds) and schedule the next probe. None if it was not due (or another probe
    holds it)."""
    now = timezone.now()
    contender = Contender.objects.filter(pk=contender_id, is_active=True, paused_until__lte=now).first()
    if contender is None:
        return None
    timeout = contender.request_timeout_seconds or settings.ARENA_ENDPOINT_TIMEOUT_SECONDS
    # Claim the probe: move the pause past the probe's own deadline, so that no other probe starts.
    # The result is saved only while the claim holds: staff may resume (or pause) it meanwhile.
    claim_until = now + timedelta(seconds=timeout + settings.ARENA_GENERATION_LEASE_MARGIN_SECONDS)
    claimed = Contender.objects.filter(pk=contender_id, paused_until=contender.paused_until).update(
        paused_until=claim_until
    )
    if not claimed:
        return None
    claim = Contender.objects.filter(pk=contender_id, paused_until=claim_until)
    if not connection.in_atomic_block:
        connection.close()  # the probe may take the whole timeout: hold no database connection
    result = contender_probe(contender=contender, full=True)
    now = timezone.now()
    if result.is_cancelled:
        # The worker is shutting down: the probe is due again at once, for another worker.
        claim.update(paused_until=now)
        return None
    if result.is_ok:
        with transaction.atomic():
            if not claim.update(**PAUSE_CLEARED, last_success_at=now, restored_at=now):
                return None
            waiting = _answers_waiting_on(contender_id=contender_id, now=now)
        paused_for = (now - contender.paused_at).total_seconds() if contender.paused_at else None
        logger.warning(
            "contender %s restored after %s s paused (%s probes failed): %s; %s answers queued again",
            contender.name,
            "?" if paused_for is None else f"{paused_for:.1f}",
            contender.probes_failed,
            result.detail,
            len(waiting),
        )
        contender_server_slots(contender=contender)
        return True
    failed = contender.probes_failed + 1
    wait = probe_wait_seconds(probes_failed=failed, flaps=contender.flaps)
    with transaction.atomic():
        if not claim.update(
            paused_until=now + timedelta(seconds=wait),
            probes_failed=failed,
            last_error=result.detail[:2000],
            last_failure_at=now,
        ):
            return None
        probe_schedule(contender_id=contender_id, in_seconds=wait)
    logger.warning(
        "contender %s still failing (probe %s; next in %g s): %s", contender.name, failed, wait, result.detail
    )
    return False


def _answers_waiting_on(*, contender_id: int, now: datetime) -> list[int]:
    """Queue again, now, the answers of a restored contender that were put off during its pause."""
    from battles.tasks import answer_generate_task

    waiting = Answer.objects.filter(contender_id=contender_id, status=Answer.Status.PENDING, retry_at__gt=now)
    ids = list(waiting.values_list("id", flat=True))
    if ids:
        Answer.objects.filter(pk__in=ids, status=Answer.Status.PENDING).update(retry_at=now)
        for answer_id in ids:
            transaction.on_commit(partial(answer_generate_task.delay, answer_id), robust=True)
    return ids


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
    now = timezone.now()
    report = SweepReport()
    _leases_expired_sweep(report, now=now)
    _retries_overdue_sweep(report, now=now)
    _battles_sweep(report, now=now)
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


def _leases_expired_sweep(report: SweepReport, *, now: datetime) -> None:
    """Answers whose lease ran out: back to the queue, or failed at the attempt limit."""
    from battles.tasks import answer_generate_task

    expired = list(
        Answer.objects.filter(status=Answer.Status.RUNNING, lease_expires_at__lt=now).values_list(
            "id", "attempts", "started_at", "claim_token", "seed"
        )
    )
    lost = "no result before the lease ran out: the worker crashed or was stopped"
    for answer_id, attempts, started_at, token, seed in expired:
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
                seed=seed,
            )
            if give_up:
                report.battles_retired += battles_advance_for_answer(
                    answer=Answer(pk=answer_id, status=Answer.Status.FAILED)
                )
            else:
                transaction.on_commit(partial(answer_generate_task.delay, answer_id))
        (report.answers_failed if give_up else report.answers_requeued).append(answer_id)


def _retries_overdue_sweep(report: SweepReport, *, now: datetime) -> None:
    """Pending answers whose retry message was lost: queued again."""
    from battles.tasks import answer_generate_task

    overdue = Answer.objects.filter(
        status=Answer.Status.PENDING, retry_at__lt=now - timedelta(seconds=_OVERDUE_RETRY_SECONDS)
    )
    report.retries_requeued = list(overdue.values_list("id", flat=True))
    overdue.filter(pk__in=report.retries_requeued).update(retry_at=now)
    for answer_id in report.retries_requeued:
        answer_generate_task.delay(answer_id)


def _battles_sweep(report: SweepReport, *, now: datetime) -> None:
    """Battles stuck waiting, held too long, or no longer servable."""
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
    report.battles_retired += Battle.objects.filter(
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
