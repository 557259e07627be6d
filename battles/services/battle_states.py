"""Moving battles on as their answers arrive: ready once both are done, retired when one fails or
its contender is paused. Voters are never shown a battle with a missing or failed answer."""

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from battles.models import Answer, Battle


def battles_retire_waiting_on(*, contender_id: int, reason: str) -> int:
    """Retire battles still waiting for an answer of this contender; the pool replaces them."""
    waiting = Q(
        contender_a_id=contender_id, answer_a__status__in=[Answer.Status.PENDING, Answer.Status.RUNNING]
    ) | Q(contender_b_id=contender_id, answer_b__status__in=[Answer.Status.PENDING, Answer.Status.RUNNING])
    return Battle.objects.filter(waiting, status=Battle.Status.GENERATING).update(
        status=Battle.Status.RETIRED, retired_reason=reason
    )


def battles_advance_for_answer(*, answer: Answer) -> int:
    """Make battles ready once both answers are done; retire those whose answer failed.

    Voters are never shown a battle with a missing or failed answer.
    """
    uses_answer = Q(answer_a_id=answer.pk) | Q(answer_b_id=answer.pk)
    if answer.status == Answer.Status.DONE and answer.leaks and not settings.ARENA_SERVE_LEAKING_ANSWERS:
        # It names a model: no battle may show it (battles/leaks.py).
        return Battle.objects.filter(uses_answer, status=Battle.Status.GENERATING).update(
            status=Battle.Status.RETIRED, retired_reason=f"answer {answer.pk} names a model ({answer.leaks})"
        )
    if answer.status == Answer.Status.DONE:
        # Lock the battles first: when both answers of a battle finish at the same moment, the second
        # transaction waits here for the first to commit, and its check below then sees both done.
        waiting = list(
            Battle.objects.select_for_update()
            .filter(uses_answer, status=Battle.Status.GENERATING)
            .values_list("id", flat=True)
        )
        if not waiting:
            return 0
        return Battle.objects.filter(
            pk__in=waiting,
            status=Battle.Status.GENERATING,
            answer_a__status=Answer.Status.DONE,
            answer_b__status=Answer.Status.DONE,
        ).update(status=Battle.Status.READY, ready_at=timezone.now())
    if answer.status == Answer.Status.FAILED:
        return Battle.objects.filter(
            uses_answer, status__in=[Battle.Status.GENERATING, Battle.Status.READY]
        ).update(status=Battle.Status.RETIRED, retired_reason=f"answer {answer.pk} failed")
    return 0
