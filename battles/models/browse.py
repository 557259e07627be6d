"""Verdicts given in browse mode, where the names are shown: kept apart from votes, never rated."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from battles.models.answers import Answer
from battles.models.bank import Question
from battles.models.votes import Vote, Voter


class BrowseVerdict(models.Model):
    """A reader's signed opinion on two answers they read with the models' names shown. Not a vote:
    the boards, tallies and exports of votes never read this table."""

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="browse_verdicts", verbose_name=_("question")
    )
    answer_a = models.ForeignKey(
        Answer, on_delete=models.CASCADE, related_name="+", verbose_name=_("answer A")
    )
    answer_b = models.ForeignKey(
        Answer, on_delete=models.CASCADE, related_name="+", verbose_name=_("answer B")
    )
    outcome = models.CharField(_("verdict"), max_length=16, choices=Vote.Outcome.choices)
    name = models.CharField(_("signed as"), max_length=80)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # The reader's voter cookie: a second verdict on the same two answers replaces the first.
    voter = models.ForeignKey(
        Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("voter")
    )
    ip_hash = models.CharField(_("IP hash"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("given"), auto_now_add=True)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("browse verdict")
        verbose_name_plural = _("browse verdicts")
        constraints = [
            models.UniqueConstraint(
                fields=["voter", "answer_a", "answer_b"], name="browse_verdict_one_per_voter_and_pair"
            ),
            models.CheckConstraint(condition=~Q(answer_a=F("answer_b")), name="browse_verdict_two_answers"),
            models.CheckConstraint(
                condition=Q(outcome__in=["a", "b", "tie", "both_bad"]), name="browse_verdict_outcome_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["question", "-updated_at"], name="browse_verdict_question"),
            models.Index(fields=["ip_hash", "created_at"], name="browse_verdict_ip_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.get_outcome_display()} · {self.question}"


class AnswerRead(models.Model):
    """An answer a voter read in browse mode, where the model's name is shown: like an answer revealed
    after a vote, it is never served to that voter in a battle again (battles/services/serving.py)."""

    voter = models.ForeignKey(Voter, on_delete=models.CASCADE, related_name="+", verbose_name=_("voter"))
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="+", verbose_name=_("answer"))
    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="+", verbose_name=_("question")
    )
    read_at = models.DateTimeField(_("read"), auto_now_add=True)

    class Meta:
        verbose_name = _("answer read in browse mode")
        verbose_name_plural = _("answers read in browse mode")
        constraints = [models.UniqueConstraint(fields=["voter", "answer"], name="answer_read_once_per_voter")]

    def __str__(self) -> str:
        return f"{self.voter_id} · {self.answer_id}"
