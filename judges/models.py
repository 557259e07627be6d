"""LLM judges: which endpoints judge, the prompts they are given, their verdicts on battles, and the
judge board computed from those verdicts."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from battles.models import Answer, Battle, Category, Contender

PROMPT_PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")


class JudgePrompt(models.Model):
    """One version of the judge prompt of a language. Prompts are never edited in place: a change is a
    new version, and each verdict records the version it was given, so verdicts of different prompts can
    be told apart. The newest version of a language is the one used."""

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", _("Chinese (simplified)")
        EN = "en", _("English")

    language = models.CharField(_("language"), max_length=16, choices=Language.choices)
    version = models.PositiveIntegerField(_("version"))
    system_text = models.TextField(_("system message"), blank=True)
    template = models.TextField(
        _("prompt"),
        help_text=_(
            "The user message. It must hold {question}, {answer_a} and {answer_b} once each; the judge "
            "must end its reply with one of [[A>>B]], [[A>B]], [[A=B]], [[B>A]], [[B>>A]]."
        ),
    )
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)

    class Meta:
        ordering = ["language", "-version"]
        verbose_name = _("judge prompt")
        verbose_name_plural = _("judge prompts")
        constraints = [
            models.UniqueConstraint(fields=["language", "version"], name="judgeprompt_unique_version"),
            models.CheckConstraint(condition=Q(language__in=["zh-hans", "en"]), name="judgeprompt_language"),
        ]

    def __str__(self) -> str:
        return f"{self.get_language_display()} v{self.version}"


class Judge(models.Model):
    """A registered endpoint contender that judges battles. Its calls go through the contender's
    endpoint settings, secrets, concurrency limit and health (a paused contender pauses its judging)."""

    contender = models.OneToOneField(
        Contender,
        on_delete=models.PROTECT,
        related_name="judge",
        verbose_name=_("endpoint"),
        help_text=_(
            "An endpoint contender. To judge without being ranked, give it a sampling weight of 0. "
            "A judge never judges a battle it takes part in."
        ),
    )
    is_active = models.BooleanField(
        _("judging"), default=True, help_text=_("Off: the judge is paused; nothing new is sent to it.")
    )
    judges_voted = models.BooleanField(
        _("judge voted battles"), default=True, help_text=_("Judge every battle voters have voted on.")
    )
    ready_share = models.FloatField(
        _("share of ready battles"),
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "The share of ready battles judged before any voter sees them (0 to 1). Battles of a model "
            "still without enough human votes are always judged, so it gets a judge rating early."
        ),
    )
    daily_call_budget = models.PositiveIntegerField(
        _("calls a day"),
        default=2000,
        help_text=_("At most this many calls a day (UTC), retries included; then judging waits a day."),
    )
    # The votes looked at so far for battles to judge (vote ids only grow).
    scheduled_through_vote_id = models.BigIntegerField(_("votes looked at up to"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["contender__name"]
        verbose_name = _("judge")
        verbose_name_plural = _("judges")

    def __str__(self) -> str:
        return self.contender.name if self.contender_id else "judge"


class JudgeDay(models.Model):
    """Calls made by a judge on a day (UTC): the budget is taken from here, one call at a time."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="days", verbose_name=_("judge"))
    day = models.DateField(_("day"))
    calls = models.PositiveIntegerField(_("calls"), default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("judge's day")
        verbose_name_plural = _("judges' days")
        constraints = [models.UniqueConstraint(fields=["judge", "day"], name="judgeday_unique")]

    def __str__(self) -> str:
        return f"{self.judge_id} {self.day}: {self.calls}"


class Verdict(models.Model):
    """One judgement of a battle by a judge, in one order. The score is in the battle's own
    orientation (+2 A much better … −2 B much better) whichever order the judge saw; `label` is what
    the judge wrote, about the answers in the order it saw them."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        UNPARSEABLE = "unparseable", _("unparseable")
        FAILED = "failed", _("failed")

    class Order(models.TextChoices):
        AS_SHOWN = "shown", _("as shown")
        SWAPPED = "swapped", _("swapped")

    judge = models.ForeignKey(
        Judge, on_delete=models.PROTECT, related_name="verdicts", verbose_name=_("judge")
    )
    battle = models.ForeignKey(
        Battle, on_delete=models.PROTECT, related_name="verdicts", db_index=False, verbose_name=_("battle")
    )
    order = models.CharField(_("order"), max_length=8, choices=Order.choices)
    # The battle's pair, answers and category, copied so the judge board never needs a join.
    contender_a = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("contender A")
    )
    contender_b = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("contender B")
    )
    answer_a = models.ForeignKey(
        Answer, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("answer A")
    )
    answer_b = models.ForeignKey(
        Answer, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("answer B")
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("category"),
    )
    prompt = models.ForeignKey(
        JudgePrompt,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="verdicts",
        db_index=False,
        verbose_name=_("prompt"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    label = models.CharField(_("verdict as written"), max_length=8, blank=True)
    reply = models.TextField(_("reply"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    unparseable_replies = models.PositiveSmallIntegerField(_("unparseable replies"), default=0)
    claim_token = models.UUIDField(_("claim token"), null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = pgettext_lazy("LLM judge", "verdict")
        verbose_name_plural = _("verdicts")
        constraints = [
            models.UniqueConstraint(fields=["battle", "judge", "order"], name="verdict_unique_order"),
            models.CheckConstraint(condition=Q(order__in=["shown", "swapped"]), name="verdict_order_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "unparseable", "failed"]),
                name="verdict_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=-2, score__lte=2), name="verdict_score_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(score__isnull=False), name="verdict_done_has_score"
            ),
        ]
        indexes = [
            # The work queue: verdicts waiting or running (the sweeper and the dashboard read it).
            models.Index(
                fields=["judge", "status"],
                name="verdict_open",
                condition=Q(status__in=["pending", "running"]),
            ),
            models.Index(fields=["judge", "-id"], name="verdict_by_judge"),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id} on battle {self.battle_id} ({self.order}): {self.label or self.status}"


class JudgeSnapshot(models.Model):
    """One refresh of the judge board (all categories, or one): ratings from the verdicts, and how
    each judge agrees with the voters."""

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    verdict_count = models.PositiveIntegerField(_("verdicts"))
    last_verdict_id = models.BigIntegerField(_("last verdict"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    parameters = models.JSONField(_("parameters"), default=dict)
    # Per judge: agreement with the human votes on the battles both judged (judges/agreement.py).
    agreement = models.JSONField(_("agreement"), default=list)
    flags = models.JSONField(_("warnings"), default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("judge board snapshot")
        verbose_name_plural = _("judge board snapshots")
        indexes = [models.Index(fields=["category", "-created_at"], name="judgesnapshot_latest")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} · {self.verdict_count}"


class JudgeRating(models.Model):
    snapshot = models.ForeignKey(
        JudgeSnapshot, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("snapshot")
    )
    contender = models.ForeignKey(
        Contender, on_delete=models.CASCADE, related_name="judge_ratings", verbose_name=_("contender")
    )
    rating = models.FloatField(_("judge rating"))
    low = models.FloatField(_("interval, low"))
    high = models.FloatField(_("interval, high"))
    rank = models.PositiveIntegerField(_("rank"))
    rank_worst = models.PositiveIntegerField(_("worst rank"))
    verdicts = models.PositiveIntegerField(_("verdicts"))
    # Games as the fit counts them: a strong win counts ARENA_JUDGE_STRONG_WIN_WEIGHT times.
    wins = models.PositiveIntegerField(_("wins"))
    losses = models.PositiveIntegerField(_("losses"))
    ties = models.PositiveIntegerField(_("ties"))
    win_rate = models.FloatField(_("win rate"), null=True, blank=True)
    style_rating = models.FloatField(_("style-controlled rating"), null=True, blank=True)
    style_low = models.FloatField(_("style-controlled interval, low"), null=True, blank=True)
    style_high = models.FloatField(_("style-controlled interval, high"), null=True, blank=True)
    style_rank = models.PositiveIntegerField(_("style-controlled rank"), null=True, blank=True)
    # The human board's figures for the same contender, when the refresh ran.
    human_votes = models.PositiveIntegerField(_("human votes"), default=0)
    human_rating = models.FloatField(_("human rating"), null=True, blank=True)
    human_rank = models.PositiveIntegerField(_("human rank"), null=True, blank=True)
    # Fewer human votes than ARENA_PRELIMINARY_VOTES: the judge rating is all there is so far.
    is_cold_start = models.BooleanField(_("judges only so far"), default=False)

    class Meta:
        ordering = ["rank", "-rating"]
        verbose_name = _("judge rating")
        verbose_name_plural = _("judge ratings")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "contender"], name="judgerating_unique_contender")
        ]

    def __str__(self) -> str:
        return f"{self.contender}: {self.rating:.0f}"
