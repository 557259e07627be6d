"""The pool of ready battles: drawn ahead of time so voters never wait for a model."""

import logging
import random
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from battles.models import Answer, Battle, Contender, Question

logger = logging.getLogger(__name__)

# A question is drawn at random; if fewer than two contenders can answer it, another is drawn.
_DRAW_ATTEMPTS = 50
_REFILL_QUEUED_KEY = "battles:pool:refill-queued"


class NoBattleCanBeDrawn(Exception):
    """Why the pool cannot grow right now, in words an admin can act on."""


@dataclass
class PoolRefillReport:
    target: int
    open_before: int
    battles_created: list[int] = field(default_factory=list)
    answers_queued: list[int] = field(default_factory=list)
    problem: str = ""


def _answer_for(
    *, question: Question, contender: Contender, rng: random.Random, created_answer_ids: set[int]
) -> Answer | None:
    """A done answer to reuse, or one being generated, or a new pending one; None if it failed."""
    answers = list(Answer.objects.filter(question=question, contender=contender).order_by("sample_index"))
    done = [answer for answer in answers if answer.status == Answer.Status.DONE]
    if done:
        return rng.choice(done)
    in_progress = [a for a in answers if a.status in (Answer.Status.PENDING, Answer.Status.RUNNING)]
    if in_progress:
        return in_progress[0]
    if answers or not contender.is_endpoint:
        return None  # it failed, or an offline contender has no answer to this question
    try:
        with transaction.atomic():
            answer = Answer.objects.create(question=question, contender=contender, sample_index=0)
    except IntegrityError:
        # Another pool run created it a moment ago.
        return Answer.objects.get(question=question, contender=contender, sample_index=0)
    created_answer_ids.add(answer.pk)
    return answer


def _battle_create(
    *, question: Question, contender_a: Contender, contender_b: Contender, answer_a: Answer, answer_b: Answer
) -> Battle | None:
    """Create the battle, ready at once if both answers are done; None if one has just failed.

    The answers are locked while the battle is created: an answer finishing at this moment either
    finishes first (and the battle is created ready) or waits until the battle exists (and its
    generation task then makes the battle ready). Without the lock, a battle could wait forever.
    """
    with transaction.atomic():
        locked = {
            answer.pk: answer
            for answer in Answer.objects.select_for_update().filter(pk__in=[answer_a.pk, answer_b.pk])
        }
        statuses = {locked[answer_a.pk].status, locked[answer_b.pk].status}
        if Answer.Status.FAILED in statuses:
            return None
        both_done = statuses == {Answer.Status.DONE}
        return Battle.objects.create(
            question=question,
            contender_a=contender_a,
            contender_b=contender_b,
            answer_a=answer_a,
            answer_b=answer_b,
            status=Battle.Status.READY if both_done else Battle.Status.GENERATING,
            ready_at=timezone.now() if both_done else None,
        )


def battle_draw(*, rng: random.Random, created_answer_ids: set[int] | None = None) -> Battle:
    """Draw a question and two different contenders uniformly at random, sides at random."""
    created_answer_ids = set() if created_answer_ids is None else created_answer_ids
    contenders = list(Contender.objects.filter(is_active=True))
    if len(contenders) < 2:
        raise NoBattleCanBeDrawn(f"{len(contenders)} active contender(s): a battle needs two.")
    question_ids = list(Question.objects.filter(is_active=True).values_list("id", flat=True))
    if not question_ids:
        raise NoBattleCanBeDrawn("there is no active question: import a bank with `manage.py import_bank`.")
    for _ in range(_DRAW_ATTEMPTS):
        question = Question.objects.get(pk=rng.choice(question_ids))
        candidates = contenders[:]
        rng.shuffle(candidates)
        chosen: list[tuple[Contender, Answer]] = []
        for contender in candidates:
            answer = _answer_for(
                question=question, contender=contender, rng=rng, created_answer_ids=created_answer_ids
            )
            if answer is not None:
                chosen.append((contender, answer))
            if len(chosen) == 2:
                break
        if len(chosen) < 2:
            continue
        (contender_a, answer_a), (contender_b, answer_b) = chosen
        battle = _battle_create(
            question=question,
            contender_a=contender_a,
            contender_b=contender_b,
            answer_a=answer_a,
            answer_b=answer_b,
        )
        if battle is not None:
            return battle
    raise NoBattleCanBeDrawn(
        f"no question among {_DRAW_ATTEMPTS} drawn has two contenders able to answer it "
        "(offline contenders need imported answers; failed answers are not retried)."
    )


def battle_pool_refill(*, target: int | None = None, rng: random.Random | None = None) -> PoolRefillReport:
    """Draw battles until the pool holds `target` open ones (ready or waiting for answers)."""
    from battles.tasks import answer_generate_task

    rng = rng or random.Random()
    target = settings.ARENA_POOL_TARGET if target is None else target
    open_statuses = [Battle.Status.GENERATING, Battle.Status.READY]
    created_answer_ids: set[int] = set()
    report = PoolRefillReport(
        target=target, open_before=Battle.objects.filter(status__in=open_statuses).count()
    )
    for _ in range(max(0, target - report.open_before)):
        try:
            battle = battle_draw(rng=rng, created_answer_ids=created_answer_ids)
        except NoBattleCanBeDrawn as problem:
            report.problem = str(problem)
            logger.warning("the battle pool cannot grow: %s", problem)
            break
        report.battles_created.append(battle.pk)
    report.answers_queued = sorted(created_answer_ids)
    for answer_id in report.answers_queued:
        transaction.on_commit(partial(answer_generate_task.delay, answer_id))
    return report


def battle_pool_refill_request() -> None:
    """Ask for a refill soon; requests in the same few seconds share one run."""
    from battles.tasks import battle_pool_refill_task

    def _queue() -> None:
        if cache.add(_REFILL_QUEUED_KEY, "1", timeout=5):
            battle_pool_refill_task.delay()

    transaction.on_commit(_queue)
