"""Answers and the attempts to fetch them."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from battles.models.bank import Question
from battles.models.contenders import Contender


class Answer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    question = models.ForeignKey(
        Question, on_delete=models.PROTECT, related_name="answers", verbose_name=_("question")
    )
    contender = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="answers", verbose_name=_("contender")
    )
    sample_index = models.PositiveIntegerField(_("sample"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(_("text"), blank=True)
    # The text rendered from markdown and sanitised, ready to show to voters.
    html = models.TextField(_("HTML shown to voters"), blank=True, editable=False)
    # The model's reasoning (reasoning_content or a <think> block), kept apart and not shown to voters.
    reasoning = models.TextField(_("reasoning"), blank=True)
    # What had to be changed in the text or reasoning to store and show it (NUL characters removed,
    # lone surrogates replaced); empty when nothing was.
    repairs = models.CharField(_("repairs"), max_length=300, blank=True)
    # The models' aliases the text names (battles/leaks.py), comma-separated; empty: none. Such an
    # answer gives its model away, and is kept out of battles (ARENA_SERVE_LEAKING_ANSWERS).
    leaks = models.CharField(_("names a model"), max_length=300, blank=True, default="", db_default="")
    # Style features of the text (ratings/style_features.py), computed when the text is stored: what style
    # control holds constant. Null until the answer has a text.
    style_length = models.PositiveIntegerField(_("length (style)"), null=True, blank=True, editable=False)
    style_headers = models.PositiveIntegerField(_("headers (style)"), null=True, blank=True, editable=False)
    style_lists = models.PositiveIntegerField(_("list items (style)"), null=True, blank=True, editable=False)
    style_bold = models.PositiveIntegerField(_("bold spans (style)"), null=True, blank=True, editable=False)
    error = models.TextField(_("error"), blank=True)
    seed = models.BigIntegerField(_("seed"), null=True, blank=True)
    parameters = models.JSONField(_("parameters used"), default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    # What the server reports it spent (llama.cpp `timings`, TGI's x-queue-time / x-inference-time
    # headers): the client's latency and time to first token also hold the network and the server's
    # queue. None when the server does not say.
    server_queue_ms = models.FloatField(_("server queue (ms)"), null=True, blank=True)
    server_prompt_ms = models.FloatField(_("server prompt time (ms)"), null=True, blank=True)
    server_generation_ms = models.FloatField(_("server generation time (ms)"), null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("tokens in"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("tokens out"), null=True, blank=True)
    finish_reason = models.CharField(_("finish reason"), max_length=64, blank=True)
    is_truncated = models.BooleanField(_("cut at the size cap"), default=False)
    attempts = models.PositiveIntegerField(_("attempt count"), default=0)
    # Who holds the answer while it runs, and until when: a result is saved only by the holder of the
    # current claim, and a claim past its lease is returned to the queue by the sweeper.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a retry is due; the sweeper queues pending answers whose retry is long overdue.
    retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    source = models.CharField(_("source"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(
                fields=["question", "contender", "sample_index"],
                name="answer_unique_question_contender_sample",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]), name="answer_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status"], name="answer_unfinished", condition=Q(status__in=["pending", "running"])
            ),
            models.Index(fields=["contender", "status"]),
            # The staff dashboard's figures of the last hour and day, and its count of failed answers.
            models.Index(fields=["finished_at"], name="answer_finished_at"),
            models.Index(fields=["contender"], name="answer_failed", condition=Q(status="failed")),
            models.Index(
                fields=["lease_expires_at"], name="answer_running_lease", condition=Q(status="running")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contender} · {self.question} · #{self.sample_index}"


class AnswerAttempt(models.Model):
    """One call to an endpoint for an answer: what happened, for the admin to see."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")
        RETRYABLE_ERROR = "retryable_error", _("failed, will retry")
        PERMANENT_ERROR = "permanent_error", _("failed for good")
        LOST = "lost", _("lost (worker stopped)")

    answer = models.ForeignKey(
        Answer, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("answer")
    )
    number = models.PositiveIntegerField(_("attempt number"))
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    outcome = models.CharField(_("outcome"), max_length=32, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    retry_in_seconds = models.FloatField(_("retry in (s)"), null=True, blank=True)
    seed = models.BigIntegerField(_("seed"), null=True, blank=True)

    class Meta:
        ordering = ["answer", "number"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        constraints = [
            models.UniqueConstraint(fields=["answer", "number"], name="attempt_unique_number"),
            models.CheckConstraint(
                condition=Q(outcome__in=["succeeded", "retryable_error", "permanent_error", "lost"]),
                name="attempt_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id} #{self.number}: {self.get_outcome_display()}"
