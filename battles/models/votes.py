"""Voters, battles and votes."""

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from battles.models.answers import Answer
from battles.models.bank import Category, Question
from battles.models.contenders import Contender


class Voter(models.Model):
    """An anonymous voter, known only by a signed cookie that carries this id."""

    id = models.UUIDField(_("voter id"), primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)

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

    question = models.ForeignKey(
        Question, on_delete=models.PROTECT, related_name="battles", verbose_name=_("question")
    )
    contender_a = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", verbose_name=_("contender A")
    )
    contender_b = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", verbose_name=_("contender B")
    )
    answer_a = models.ForeignKey(
        Answer, on_delete=models.PROTECT, related_name="+", verbose_name=_("answer A")
    )
    answer_b = models.ForeignKey(
        Answer, on_delete=models.PROTECT, related_name="+", verbose_name=_("answer B")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.GENERATING)
    # Indexed by (voter, status) below: an index of its own would only cost every claim and vote.
    voter = models.ForeignKey(
        Voter,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="battles",
        db_index=False,
        verbose_name=_("voter"),
    )
    # A keyed hash of the address of the voter the battle is held for (served to, or drawn for), never
    # the address itself: an address may hold only so many battles not voted on
    # (ARENA_HELD_BATTLES_PER_IP). Empty while the battle is in the shared pool.
    holder_ip_hash = models.CharField(_("holder's IP hash"), max_length=32, blank=True)
    # The voter whose hold ran out before they voted (the battle went back to the pool): a vote they
    # cast late is told so, instead of "not served to you".
    expired_holder = models.ForeignKey(
        Voter,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("voter whose hold ran out"),
    )
    retired_reason = models.CharField(_("why retired"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("drawn"), default=timezone.now)
    ready_at = models.DateTimeField(_("ready"), null=True, blank=True)
    served_at = models.DateTimeField(_("served"), null=True, blank=True)
    voted_at = models.DateTimeField(_("voted"), null=True, blank=True)

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
            # The staff dashboard's count and oldest of the served and of the retired battles.
            models.Index(fields=["created_at"], name="battle_served", condition=Q(status="served")),
            models.Index(fields=["created_at"], name="battle_retired", condition=Q(status="retired")),
            # Battles held for voters (readiness counts them without reading the ready pool's rows).
            models.Index(
                fields=["created_at"],
                name="battle_held",
                condition=Q(status__in=["ready", "served"], voter__isnull=False),
            ),
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
        Battle, on_delete=models.PROTECT, null=True, blank=True, related_name="vote", verbose_name=_("battle")
    )
    voter = models.ForeignKey(
        Voter, on_delete=models.SET_NULL, null=True, blank=True, related_name="votes", verbose_name=_("voter")
    )
    contender_a = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", verbose_name=_("contender A")
    )
    contender_b = models.ForeignKey(
        Contender, on_delete=models.PROTECT, related_name="+", verbose_name=_("contender B")
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    created_at = models.DateTimeField(_("cast"), default=timezone.now)
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
    # Why the vote is left out of the boards (codes of EXCLUSION_REASONS, comma-separated); empty: it
    # counts. An excluded vote is kept, and restored by clearing this (battles/services/exclusions.py).
    excluded_reasons = models.CharField(
        _("left out because"), max_length=200, blank=True, default="", db_default=""
    )
    excluded_at = models.DateTimeField(_("left out at"), null=True, blank=True)
    # Staff restored it: automatic checks do not leave it out again.
    restored_at = models.DateTimeField(_("restored at"), null=True, blank=True)
    # What the integrity sweep found (battles/integrity.py: signal codes, comma-separated) and the
    # score they add up to; a vote scoring ARENA_INTEGRITY_THRESHOLD or more is left out for them.
    signals = models.CharField(_("signals"), max_length=200, blank=True, default="", db_default="")
    suspicion = models.FloatField(_("suspicion"), default=0.0, db_default=0.0)

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
        indexes = [
            models.Index(fields=["created_at", "id"], name="vote_time_order"),
            models.Index(fields=["-excluded_at"], name="vote_excluded", condition=~Q(excluded_reasons="")),
            models.Index(fields=["-created_at"], name="vote_flagged", condition=~Q(signals="")),
        ]

    def __str__(self) -> str:
        return f"{self.contender_a} vs {self.contender_b}: {self.get_outcome_display()}"

    @property
    def is_counted(self) -> bool:
        return not self.excluded_reasons
