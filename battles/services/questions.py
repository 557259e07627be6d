"""Writes of questions outside an import: staff turning questions on and off."""

from battles.models import Question


def questions_set_active(*, question_ids: list[int], active: bool) -> int:
    """Put these questions in battles (active) or take them out; returns how many changed."""
    return Question.objects.filter(pk__in=question_ids).exclude(is_active=active).update(is_active=active)
