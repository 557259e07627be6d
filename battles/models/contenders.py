"""The contenders: endpoints and offline models, and their health."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from battles.models.common import (
    MAX_REQUEST_TIMEOUT_SECONDS,
    ORIGIN_HELP_TEXT,
    SECRET_VARIABLE_PATTERN,
    Origin,
    http_url_validator,
    secret_variable_validator,
    validate_json_object,
    validate_text_list,
    validate_text_object,
)

# The contenders battles are drawn from: active, not retired, with a sampling weight above 0. (A
# weight of 0 keeps a contender out of battles on purpose: an LLM judge's own model, say.)
IN_THE_DRAW = Q(is_active=True, is_retired=False, sampling_weight__gt=0)


class Contender(models.Model):
    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", _("endpoint (OpenAI-compatible)")
        OFFLINE = "offline", _("offline (imported answers)")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ENDPOINT)
    description = models.TextField(_("description"), blank=True)
    aliases = models.JSONField(
        _("aliases"),
        default=list,
        blank=True,
        help_text=_(
            "Names that give this model away when an answer says them (its name, family, product and "
            'maker, in any language), e.g. ["Qwen", "通义千问", "阿里"]. An answer naming any model\'s '
            "alias is kept out of battles."
        ),
        validators=[validate_text_list],
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Retired: never drawn again and hidden from the leaderboard by default, but its votes stay in the
    # fit, so the others' ratings do not jump when it leaves.
    is_retired = models.BooleanField(
        pgettext_lazy("contender", "retired"),
        default=False,
        help_text=_(
            "A retired contender is never drawn into battles and is hidden from the leaderboard unless "
            "asked for; its votes still count, so the other ratings stay where they are."
        ),
    )
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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

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
