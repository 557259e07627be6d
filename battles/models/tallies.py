"""Votes counted by hour and by day as they arrive, for the staff dashboard: it reads these few rows,
never the vote table. Rows are recounted from the votes (and the rejections counted in Redis) until
they are final, a few minutes after their hour or day ends; then they no longer change."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from battles.models.bank import Question


class VoteHour(models.Model):
    hour = models.DateTimeField(_("hour"), unique=True)  # its start, UTC
    votes = models.PositiveIntegerField(_("votes"), default=0)
    # Refused votes by reason (VoteRejected codes), and votes by time to decide (DECISION_BUCKETS).
    rejections = models.JSONField(_("refused votes"), default=dict, blank=True)
    decisions = models.JSONField(_("time to decide"), default=dict, blank=True)
    is_final = models.BooleanField(_("final"), default=False)

    class Meta:
        ordering = ["-hour"]
        verbose_name = _("hour of votes")
        verbose_name_plural = _("votes by hour")

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 UTC: {self.votes}"


class VoteDay(models.Model):
    day = models.DateField(_("day"), unique=True)  # UTC
    votes = models.PositiveIntegerField(_("votes"), default=0)
    voters_new = models.PositiveIntegerField(_("new voters"), default=0)
    voters_returning = models.PositiveIntegerField(_("returning voters"), default=0)
    # Voters by their number of votes that day (VOTES_PER_VOTER_BUCKETS), the addresses (hashed) with
    # the most votes [[hash, votes], ...], and votes per question {question id: votes}.
    votes_per_voter = models.JSONField(_("votes per voter"), default=dict, blank=True)
    top_ip_hashes = models.JSONField(_("busiest addresses"), default=list, blank=True)
    questions = models.JSONField(_("votes per question"), default=dict, blank=True)
    is_final = models.BooleanField(_("final"), default=False)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("day of votes")
        verbose_name_plural = _("votes by day")

    def __str__(self) -> str:
        return f"{self.day}: {self.votes}"


class QuestionVotes(models.Model):
    """Votes on each question over every final day (today's are in its VoteDay row)."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, primary_key=True, related_name="+")
    votes = models.PositiveIntegerField(_("votes"), default=0)

    class Meta:
        verbose_name = _("votes on a question")
        verbose_name_plural = _("votes per question")

    def __str__(self) -> str:
        return f"{self.question_id}: {self.votes}"


# Upper bounds (seconds) of the answer-time histogram each contender keeps, for /metrics.
LATENCY_BUCKETS_SECONDS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class ContenderLatency(models.Model):
    """Answers of an endpoint contender by their time, counted as each is stored: `le_<i>` counts the
    answers in bucket i (above the bound before, up to LATENCY_BUCKETS_SECONDS[i]); `over` the rest."""

    contender = models.OneToOneField(
        "battles.Contender", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    answers = models.PositiveBigIntegerField(default=0)
    total_ms = models.PositiveBigIntegerField(default=0)
    le_0 = models.PositiveBigIntegerField(default=0)
    le_1 = models.PositiveBigIntegerField(default=0)
    le_2 = models.PositiveBigIntegerField(default=0)
    le_3 = models.PositiveBigIntegerField(default=0)
    le_4 = models.PositiveBigIntegerField(default=0)
    le_5 = models.PositiveBigIntegerField(default=0)
    le_6 = models.PositiveBigIntegerField(default=0)
    le_7 = models.PositiveBigIntegerField(default=0)
    le_8 = models.PositiveBigIntegerField(default=0)
    le_9 = models.PositiveBigIntegerField(default=0)
    over = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("answer times of a contender")
        verbose_name_plural = _("answer times of contenders")

    def __str__(self) -> str:
        return f"{self.contender_id}: {self.answers}"

    def bucket_counts(self) -> list[int]:
        """The count of each bucket in order, `over` last."""
        return [getattr(self, f"le_{index}") for index in range(len(LATENCY_BUCKETS_SECONDS))] + [self.over]
