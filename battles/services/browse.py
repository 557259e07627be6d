"""Named verdicts given in browse mode. They are stored apart from votes (BrowseVerdict) and never
reach the boards: nothing that rates, tallies or exports votes reads them."""

import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from arena.errors import DomainError
from battles.models import Answer, AnswerRead, BrowseVerdict, Vote, Voter

NAME_MAX_LENGTH = 80
REASON_MAX_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class BrowseVerdictRejected(DomainError):
    """A named verdict that cannot be kept; the message is safe to show."""

    MESSAGES: ClassVar[Mapping[str, Promise | str]] = {
        "invalid_outcome": gettext_lazy("unknown verdict"),
        "name_missing": gettext_lazy("sign your verdict with a name"),
        "name_too_long": gettext_lazy("the name is longer than %(limit)s characters"),
        "answers_not_comparable": gettext_lazy(
            "these two answers cannot be compared: choose two models that answered this question"
        ),
        "browse_ip_rate": gettext_lazy("too many verdicts from your address: wait a minute"),
    }


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def browse_verdict_give(
    *,
    question_id: int,
    answer_a_id: int,
    answer_b_id: int,
    outcome: str,
    name: str,
    reason: str = "",
    voter: Voter,
    ip_hash: str = "",
) -> BrowseVerdict:
    """Keep a reader's named verdict on two answers to a question, shown with their models' names. A
    second verdict by the same voter on the same two answers, in the same order, replaces the first."""
    if outcome not in Vote.Outcome.values:
        raise BrowseVerdictRejected("unknown verdict", code="invalid_outcome")
    name = _clean(name)
    if not name:
        raise BrowseVerdictRejected("a name is needed", code="name_missing")
    if len(name) > NAME_MAX_LENGTH:
        raise BrowseVerdictRejected(
            "the name is too long", code="name_too_long", details={"limit": NAME_MAX_LENGTH}
        )
    answers = {
        answer.pk: answer
        for answer in Answer.objects.filter(
            pk__in=[answer_a_id, answer_b_id],
            question_id=question_id,
            question__is_active=True,
            status=Answer.Status.DONE,
        )
    }
    a, b = answers.get(answer_a_id), answers.get(answer_b_id)
    if a is None or b is None or a.contender_id == b.contender_id:
        raise BrowseVerdictRejected("the answers cannot be compared", code="answers_not_comparable")
    now = timezone.now()
    if ip_hash:
        recent = BrowseVerdict.objects.filter(ip_hash=ip_hash, created_at__gte=now - timedelta(minutes=1))
        if recent.count() >= settings.ARENA_BROWSE_VERDICTS_PER_MINUTE_PER_IP:
            raise BrowseVerdictRejected("too many verdicts", code="browse_ip_rate", retry_after_seconds=60)
    with transaction.atomic():
        verdict, _created = BrowseVerdict.objects.update_or_create(
            voter=voter,
            answer_a=a,
            answer_b=b,
            defaults={
                "question_id": question_id,
                "outcome": outcome,
                "name": name,
                "reason": _clean(reason)[:REASON_MAX_LENGTH],
                "ip_hash": ip_hash,
            },
        )
    return verdict


def answers_read_record(*, voter_id: uuid.UUID, answers: list[Answer]) -> None:
    """A voter read these answers in browse mode, with their models' names: none of them is served to
    this voter in a battle afterwards. A voter id no longer known records nothing."""
    if not Voter.objects.filter(pk=voter_id).exists():
        return
    AnswerRead.objects.bulk_create(
        [AnswerRead(voter_id=voter_id, answer=answer, question_id=answer.question_id) for answer in answers],
        ignore_conflicts=True,
    )
