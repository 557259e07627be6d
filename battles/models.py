import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

http_url_validator = RegexValidator(
    r"^https?://[^\s/]+(/\S*)?$",
    _("Enter an http:// or https:// URL, for example http://127.0.0.1:8000/v1"),
)
environment_variable_validator = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$",
    _("Enter the name of an environment variable: capital letters, digits and underscores."),
)


class Category(models.Model):
    code = models.CharField(
        _("code"), max_length=64, unique=True, help_text=_("Stable key, e.g. QA or CODE.")
    )
    name = models.CharField(
        _("name"), max_length=200, help_text=_("Display name, as written, e.g. 知识问答.")
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name if self.name == self.code else f"{self.name} ({self.code})"


class Question(models.Model):
    external_id = models.CharField(
        _("external id"),
        max_length=200,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The id the question has in the file it was imported from."),
    )
    text = models.TextField(_("text"))
    # SHA-256 of the whitespace-normalised text: the same question is never stored twice.
    text_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="questions")
    language = models.CharField(_("language"), max_length=16, help_text=_("BCP 47 code, e.g. zh or en."))
    is_active = models.BooleanField(_("active"), default=True)
    source = models.CharField(_("source"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        indexes = [models.Index(fields=["category", "is_active"])]

    def __str__(self) -> str:
        return self.text[:80]


class Contender(models.Model):
    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", _("endpoint (OpenAI-compatible)")
        OFFLINE = "offline", _("offline (imported answers)")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ENDPOINT)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        blank=True,
        validators=[http_url_validator],
        help_text=_("OpenAI-compatible base URL ending in /v1, e.g. http://127.0.0.1:8000/v1"),
    )
    model_id = models.CharField(_("model id"), max_length=200, blank=True)
    api_key_env = models.CharField(
        _("API key environment variable"),
        max_length=200,
        blank=True,
        validators=[environment_variable_validator],
        help_text=_(
            "Name of the environment variable that holds the API key; the key itself is never stored."
        ),
    )
    system_prompt = models.TextField(_("system prompt"), blank=True)
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    top_p = models.FloatField(_("top_p"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("max tokens"), null=True, blank=True)
    seed = models.BigIntegerField(_("seed"), null=True, blank=True)
    extra_parameters = models.JSONField(
        _("extra parameters"),
        default=dict,
        blank=True,
        help_text=_('Other fields sent in the request body, e.g. {"presence_penalty": 0.5}.'),
    )
    request_timeout_seconds = models.FloatField(_("request timeout (seconds)"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("contender")
        verbose_name_plural = _("contenders")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["endpoint", "offline"]), name="contender_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="offline") | (~Q(base_url="") & ~Q(model_id="")),
                name="contender_endpoint_has_url_and_model",
            ),
            models.CheckConstraint(
                condition=Q(temperature__isnull=True) | Q(temperature__gte=0, temperature__lte=2),
                name="contender_temperature_range",
            ),
            models.CheckConstraint(
                condition=Q(top_p__isnull=True) | Q(top_p__gt=0, top_p__lte=1), name="contender_top_p_range"
            ),
            models.CheckConstraint(
                condition=Q(request_timeout_seconds__isnull=True) | Q(request_timeout_seconds__gt=0),
                name="contender_timeout_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_endpoint(self) -> bool:
        return self.kind == self.Kind.ENDPOINT


class Answer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    contender = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="answers")
    sample_index = models.PositiveIntegerField(_("sample"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(_("text"), blank=True)
    # The text rendered from markdown and sanitised, ready to show to voters.
    html = models.TextField(blank=True, editable=False)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    parameters = models.JSONField(_("parameters used"), default=dict, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    source = models.CharField(_("source"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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
        ]

    def __str__(self) -> str:
        return f"{self.contender} · {self.question} · #{self.sample_index}"


class Voter(models.Model):
    """An anonymous voter, known only by a signed cookie that carries this id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("voter")
        verbose_name_plural = _("voters")

    def __str__(self) -> str:
        return str(self.id)


class Battle(models.Model):
    class Status(models.TextChoices):
        GENERATING = "generating", _("waiting for answers")
        READY = "ready", _("ready")
        SERVED = "served", _("served")
        VOTED = "voted", _("voted")
        RETIRED = "retired", _("retired")

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="battles")
    contender_a = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    contender_b = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    answer_a = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="+")
    answer_b = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.GENERATING)
    voter = models.ForeignKey(Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="battles")
    retired_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    served_at = models.DateTimeField(null=True, blank=True)
    voted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("battle")
        verbose_name_plural = _("battles")
        constraints = [
            models.CheckConstraint(
                condition=~Q(contender_a=F("contender_b")), name="battle_distinct_contenders"
            ),
            models.CheckConstraint(condition=~Q(answer_a=F("answer_b")), name="battle_distinct_answers"),
            models.CheckConstraint(
                condition=Q(status__in=["generating", "ready", "served", "voted", "retired"]),
                name="battle_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["served", "voted"])
                | Q(voter__isnull=False, served_at__isnull=False),
                name="battle_served_has_voter",
            ),
        ]
        indexes = [
            # The pool: ready battles, oldest first.
            models.Index(fields=["created_at"], name="battle_ready_pool", condition=Q(status="ready")),
            models.Index(fields=["status"], name="battle_generating", condition=Q(status="generating")),
            models.Index(fields=["voter", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}: {self.contender_a} vs {self.contender_b}"


class Vote(models.Model):
    """A verdict on a battle; it carries the pair and category so the ratings never need a join."""

    class Outcome(models.TextChoices):
        A = "a", _("A is better")
        B = "b", _("B is better")
        TIE = "tie", _("Tie")
        BOTH_BAD = "both_bad", _("Both are bad")

    battle = models.OneToOneField(
        Battle, on_delete=models.PROTECT, null=True, blank=True, related_name="vote"
    )
    voter = models.ForeignKey(Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="votes")
    contender_a = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    contender_b = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        constraints = [
            models.CheckConstraint(
                condition=~Q(contender_a=F("contender_b")), name="vote_distinct_contenders"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=["a", "b", "tie", "both_bad"]), name="vote_outcome_valid"
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="vote_time_order")]

    def __str__(self) -> str:
        return f"{self.contender_a} vs {self.contender_b}: {self.outcome}"
