"""Verdict rows as the schedule makes them, for tests that judge without a worker."""

from typing import Any

from battles.models import Battle
from judges.models import Judge, Verdict


def verdict_make(judge: Judge, battle: Battle, order: str, **fields: Any) -> Verdict:
    """A verdict of one order of a battle, with the battle's pair, answers and category copied."""
    return Verdict.objects.create(
        judge=judge,
        battle=battle,
        order=order,
        contender_a_id=battle.contender_a_id,
        contender_b_id=battle.contender_b_id,
        answer_a_id=battle.answer_a_id,
        answer_b_id=battle.answer_b_id,
        category_id=battle.question.category_id,
        **fields,
    )
