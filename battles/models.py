import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

http_url_validator = RegexValidator(
    r"^https?://[^\s/]+(/\S*)?$",
    _("Enter an http:// or https:// URL, for example http://127.0.0.1:8000/v1"),
)
# Secrets for endpoints come from environment variables named like this, so that a contender can never
# be made to send one of the arena's own settings (SECRET_KEY, DATABASE_URL, ...) to an endpoint.
SECRET_VARIABLE_PATTERN = r"^[A-Z][A-Z0-9_]*(_API_KEY|_TOKEN)$"  # noqa: S105 (a name pattern, not a secret)
secret_variable_validator = RegexValidator(
    SECRET_VARIABLE_PATTERN,
    _("Enter the name of an environment variable ending in _API_KEY or _TOKEN, e.g. DEEPSEEK_API_KEY."),
)


# A request may take at most this long; the generation task's time limits sit above it.
MAX_REQUEST_TIMEOUT_SECONDS = 600
# Seeds drawn for answers and probes: below 2**31, which every server takes as its seed type.
SEED_RANGE = 2**31


class Origin(models.TextChoices):
    """Where a question or contender came from. Seeded rows are synthetic load for benchmarks and are
    kept out of voters' battles (see battles.services.pool); demo rows are the demo `make run` loads,
    which is asked for and served like real data."""

    REAL = "real", _("real")
    DEMO = "demo", _("demo")
    SEEDED = "seeded", _("seeded for benchmarks")


ORIGIN_HELP_TEXT = _(
    "Seeded rows come from seed_arena or seed_votes and are not drawn into voters' battles unless "
    "ARENA_SERVE_SEEDED is on; demo rows come from the demo that make run loads."
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
    origin = models.CharField(
        _("origin"), max_length=16, choices=Origin.choices, default=Origin.REAL, help_text=ORIGIN_HELP_TEXT
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        indexes = [models.Index(fields=["category", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(origin__in=["real", "demo", "seeded"]), name="question_origin_valid"
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]


def validate_json_object(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_('Give a JSON object, e.g. {"presence_penalty": 0.5}.'), code="invalid")


def validate_text_object(value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ValidationError(_('Give a JSON object of texts, e.g. {"X-Team": "arena"}.'), code="invalid")


def validate_text_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_('Give a JSON list of texts, e.g. ["</s>"].'), code="invalid")


class Contender(models.Model):
    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", _("endpoint (OpenAI-compatible)")
        OFFLINE = "offline", _("offline (imported answers)")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ENDPOINT)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    origin = models.CharField(
        _("origin"), max_length=16, choices=Origin.choices, default=Origin.REAL, help_text=ORIGIN_HELP_TEXT
    )
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
        validators=[secret_variable_validator],
        help_text=_(
            "Name of the environment variable that holds the API key, ending in _API_KEY or _TOKEN; "
            "the key itself is never stored."
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
        validators=[validate_json_object],
    )
    stop = models.JSONField(
        _("stop sequences"),
        default=list,
        blank=True,
        help_text=_('A list of strings, e.g. ["</s>"].'),
        validators=[validate_text_list],
    )
    extra_headers = models.JSONField(
        _("extra headers"),
        default=dict,
        blank=True,
        help_text=_(
            "Sent with every request. A value may name an environment variable as ${NAME}; "
            "never put a secret here directly."
        ),
        validators=[validate_text_object],
    )
    request_timeout_seconds = models.FloatField(
        _("request timeout (seconds)"),
        null=True,
        blank=True,
        help_text=_("Total time allowed for one answer; empty means the default setting."),
    )
    stream = models.BooleanField(
        _("stream"), default=True, help_text=_("Ask for a streamed answer (measures time to first token).")
    )
    stream_usage = models.BooleanField(
        _("ask for usage when streaming"),
        default=True,
        help_text=_("Send stream_options.include_usage; turn off for servers that reject it."),
    )
    max_concurrent_requests = models.PositiveIntegerField(
        _("maximum concurrent requests"), default=8, help_text=_("Across all workers.")
    )
    # What the server says it can run at once (llama.cpp's /props total_slots), read when the
    # contender is added or tested; None when the server does not say.
    server_slots = models.PositiveIntegerField(
        _("server slots"),
        null=True,
        blank=True,
        help_text=_("Requests the server runs at once, as it reports them (llama.cpp: --parallel)."),
    )
    sampling_weight = models.FloatField(
        _("sampling weight"),
        default=1.0,
        help_text=_("Relative chance of being drawn into a battle; 0 never."),
    )
    samples_per_question = models.PositiveIntegerField(
        _("samples per question"),
        default=1,
        help_text=_(
            "Different answers kept per question, each with its own seed; battles pick one at random."
        ),
    )
    # Health, kept by the generation service: N failures in a row pause the contender until a probe
    # succeeds (see ARENA_CONTENDER_FAILURE_THRESHOLD and battles/services/health.py).
    consecutive_failures = models.PositiveIntegerField(
        _("failures in a row"),
        default=0,
        help_text=_("Counted up to the pause; failures of calls already under way when it paused are not."),
    )
    paused_until = models.DateTimeField(
        _("paused after failures until"),
        null=True,
        blank=True,
        help_text=_("Set when the endpoint keeps failing; the next probe is due at this time."),
    )
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_reason = models.TextField(_("why paused"), blank=True)
    # Probes that failed since the pause, and pauses that came soon after a restore (in a row): both
    # lengthen the wait before the next probe.
    probes_failed = models.PositiveIntegerField(_("probes failed"), default=0)
    flaps = models.PositiveIntegerField(
        _("pauses soon after a restore"),
        default=0,
        help_text=_("Paused again shortly after a probe restored it, in a row; each one doubles the waits."),
    )
    restored_at = models.DateTimeField(_("restored by a probe at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
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
                condition=Q(origin__in=["real", "demo", "seeded"]), name="contender_origin_valid"
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
                condition=Q(request_timeout_seconds__isnull=True)
                | Q(request_timeout_seconds__gt=0, request_timeout_seconds__lte=MAX_REQUEST_TIMEOUT_SECONDS),
                name="contender_timeout_range",
            ),
            # Also rejects NaN and infinity, which PostgreSQL would otherwise accept as "greater than 0".
            models.CheckConstraint(
                condition=Q(sampling_weight__gte=0, sampling_weight__lte=1_000_000),
                name="contender_weight_range",
            ),
            models.CheckConstraint(
                condition=Q(max_concurrent_requests__gte=1), name="contender_concurrency_positive"
            ),
            models.CheckConstraint(
                condition=Q(samples_per_question__gte=1), name="contender_samples_positive"
            ),
            models.CheckConstraint(
                condition=Q(api_key_env="") | Q(api_key_env__regex=SECRET_VARIABLE_PATTERN),
                name="contender_api_key_variable_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_endpoint(self) -> bool:
        return self.kind == self.Kind.ENDPOINT

    @property
    def is_paused_after_failures(self) -> bool:
        return self.paused_until is not None


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
    # The model's reasoning (reasoning_content or a <think> block), kept apart and not shown to voters.
    reasoning = models.TextField(_("reasoning"), blank=True)
    # What had to be changed in the text or reasoning to store and show it (NUL characters removed,
    # lone surrogates replaced); empty when nothing was.
    repairs = models.CharField(_("repairs"), max_length=300, blank=True)
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
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Who holds the answer while it runs, and until when: a result is saved only by the holder of the
    # current claim, and a claim past its lease is returned to the queue by the sweeper.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a retry is due; the sweeper queues pending answers whose retry is long overdue.
    retry_at = models.DateTimeField(null=True, blank=True, editable=False)
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

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt"))
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
        return f"{self.answer_id} #{self.number}: {self.outcome}"


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
    # Indexed by (voter, status) below: an index of its own would only cost every claim and vote.
    voter = models.ForeignKey(
        Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="battles", db_index=False
    )
    # A keyed hash of the address of the voter the battle is held for (served to, or drawn for), never
    # the address itself: an address may hold only so many battles not voted on
    # (ARENA_HELD_BATTLES_PER_IP). Empty while the battle is in the shared pool.
    holder_ip_hash = models.CharField(_("holder's IP hash"), max_length=32, blank=True)
    # The voter whose hold ran out before they voted (the battle went back to the pool): a vote they
    # cast late is told so, instead of "not served to you".
    expired_holder = models.ForeignKey(
        Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
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
            # Battles started per address (the serving limits' count while Redis is away).
            models.Index(
                fields=["holder_ip_hash", "status"], name="battle_holder_ip", condition=~Q(holder_ip_hash="")
            ),
            # Battles held per address, counted before every new hold: only those held now are in it
            # (an address's thousands of voted battles are not walked through).
            models.Index(
                fields=["holder_ip_hash"],
                name="battle_held_by_ip",
                condition=Q(status__in=["generating", "ready", "served"], voter__isnull=False)
                & ~Q(holder_ip_hash=""),
            ),
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
    # From serving the battle to the vote: how long the voter looked before deciding.
    decision_ms = models.PositiveIntegerField(_("time to decide (ms)"), null=True, blank=True)
    # A keyed hash of the voter's IP address, never the address itself: enough to spot one source
    # casting many votes, not enough to tell who it was.
    ip_hash = models.CharField(_("IP hash"), max_length=32, blank=True, db_index=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # When the row was written (created_at is when the vote was cast, which for imported battle logs
    # is long before): the ratings measure how soon a vote reaches the leaderboard from this.
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)
    # The id a vote had where it was imported from (a FastChat battle's question_id): imports are
    # idempotent by it.
    external_id = models.CharField(_("external id"), max_length=200, unique=True, null=True, blank=True)
    language = models.CharField(_("language"), max_length=32, blank=True)

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
