from django.db import models
from django.utils.translation import gettext_lazy as _

from battles.models import Category, Contender


class RatingSnapshot(models.Model):
    """One refresh of the ratings: what it covered, how it was computed, how long it took."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Null: every category together.
    category = models.ForeignKey(Category, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    vote_count = models.PositiveIntegerField(_("votes"))
    last_vote_id = models.BigIntegerField(null=True, blank=True)
    last_vote_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    parameters = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = ["created_at", "id"]
        verbose_name = _("rating snapshot")
        verbose_name_plural = _("rating snapshots")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} · {self.vote_count} votes"


class ContenderRating(models.Model):
    snapshot = models.ForeignKey(RatingSnapshot, on_delete=models.CASCADE, related_name="ratings")
    contender = models.ForeignKey(Contender, on_delete=models.CASCADE, related_name="ratings")
    elo = models.FloatField(_("Elo"))
    wins = models.PositiveIntegerField(_("wins"))
    losses = models.PositiveIntegerField(_("losses"))
    ties = models.PositiveIntegerField(_("ties"))
    both_bad = models.PositiveIntegerField(_("both bad"))
    votes = models.PositiveIntegerField(_("votes"))
    # Wins / (wins + losses); null until the contender has a decisive vote.
    win_rate = models.FloatField(_("win rate"), null=True, blank=True)

    class Meta:
        ordering = ["-elo"]
        verbose_name = _("contender rating")
        verbose_name_plural = _("contender ratings")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "contender"], name="rating_unique_snapshot_contender")
        ]

    def __str__(self) -> str:
        return f"{self.contender}: {self.elo:.0f}"
