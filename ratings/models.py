from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from battles.models import Category, Contender

# Counters and Elo are kept for every category separately and for all of them together; the
# category key is a Category id, or this for all categories together.
ALL_CATEGORIES = 0


class PairCount(models.Model):
    """How many votes a pair got, by side and outcome: the only input of a refresh.

    Updated in each vote's own transaction, so a refresh reads at most contenders² × 4 rows per
    category instead of every vote. `manage.py ratings_rebuild` recomputes them from the votes.
    """

    category_key = models.PositiveIntegerField(_("category"), default=ALL_CATEGORIES)
    # Derived data, rebuilt from the votes: no foreign-key checks, which would make a rebuild of half a
    # million rows several times slower (contenders with votes are never deleted: votes protect them).
    contender_a = models.ForeignKey(
        Contender,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("contender A"),
    )
    contender_b = models.ForeignKey(
        Contender,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("contender B"),
    )
    # ratings.algorithms' outcome codes: 0 A won, 1 B won, 2 tie, 3 both bad.
    outcome = models.PositiveSmallIntegerField(_("outcome"))
    count = models.PositiveBigIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("pair count")
        verbose_name_plural = _("pair counts")
        constraints = [
            models.UniqueConstraint(
                fields=["category_key", "contender_a", "contender_b", "outcome"], name="paircount_unique_cell"
            ),
            models.CheckConstraint(condition=Q(outcome__lte=3), name="paircount_outcome_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.contender_a_id} vs {self.contender_b_id} [{self.outcome}] × {self.count}"


class EloRating(models.Model):
    """Online Elo as of the watermark in RatingsState, per category key."""

    category_key = models.PositiveIntegerField(_("category"), default=ALL_CATEGORIES)
    # Derived data like PairCount: no foreign-key checks.
    contender = models.ForeignKey(
        Contender,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("contender"),
    )
    rating = models.FloatField(_("Elo"))

    class Meta:
        verbose_name = _("Elo rating")
        verbose_name_plural = _("Elo ratings")
        constraints = [
            models.UniqueConstraint(fields=["category_key", "contender"], name="elorating_unique_contender")
        ]

    def __str__(self) -> str:
        return f"{self.contender_id}: {self.rating:.1f}"


class RatingsState(models.Model):
    """One row: how far the online Elo has read the votes, in time order."""

    elo_through_at = models.DateTimeField(_("Elo counted votes cast until"), null=True, blank=True)
    elo_through_id = models.BigIntegerField(_("Elo's last vote"), default=0)
    # The highest vote id applied: a newer vote with an older time (an import) means Elo must be
    # recomputed from the start, since its order matters.
    elo_max_vote_id = models.BigIntegerField(_("highest vote id counted by Elo"), default=0)
    elo_vote_count = models.PositiveBigIntegerField(_("votes counted by Elo"), default=0)
    # Votes were left out or restored: the next refresh recounts the counters and Elo from the votes
    # that count (ratings_recount_request), then clears this.
    recount_requested_at = models.DateTimeField(_("recount asked for at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ratings state")
        verbose_name_plural = _("ratings state")

    def __str__(self) -> str:
        return gettext("Elo through vote %(id)s") % {"id": self.elo_through_id}


class RatingSnapshot(models.Model):
    """One refresh of the ratings: what it covered, how it was computed, how long it took."""

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    # Null: every category together.
    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    vote_count = models.PositiveIntegerField(_("vote count"))
    last_vote_id = models.BigIntegerField(_("last vote"), null=True, blank=True)
    last_vote_at = models.DateTimeField(_("last vote cast"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    # From the oldest vote this snapshot was the first to include being recorded, to this snapshot.
    vote_lag_ms = models.PositiveBigIntegerField(_("vote to snapshot (ms)"), null=True, blank=True)
    parameters = models.JSONField(_("parameters"), default=dict)
    # Warnings from the fit: undefeated, winless, disconnected, single_contender, only_ties, ...
    flags = models.JSONField(_("warnings"), default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = ["created_at", "id"]
        verbose_name = _("rating snapshot")
        verbose_name_plural = _("rating snapshots")
        indexes = [models.Index(fields=["category", "-created_at"], name="snapshot_latest_by_category")]

    def __str__(self) -> str:
        votes = ngettext("%(count)s vote", "%(count)s votes", self.vote_count) % {"count": self.vote_count}
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} · {votes}"


class ContenderRating(models.Model):
    snapshot = models.ForeignKey(
        RatingSnapshot, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("snapshot")
    )
    contender = models.ForeignKey(
        Contender, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("contender")
    )
    elo = models.FloatField(_("Elo"))
    # Bradley–Terry on the Elo scale, with 95% intervals by bootstrap and by the sandwich estimate.
    bt_rating = models.FloatField(_("rating"), default=0.0)
    ci_low = models.FloatField(_("bootstrap interval, low"), default=0.0)
    ci_high = models.FloatField(_("bootstrap interval, high"), default=0.0)
    sandwich_low = models.FloatField(_("sandwich interval, low"), default=0.0)
    sandwich_high = models.FloatField(_("sandwich interval, high"), default=0.0)
    rank = models.PositiveIntegerField(_("rank"), default=1)
    wins = models.PositiveIntegerField(_("wins"))
    losses = models.PositiveIntegerField(_("losses"))
    ties = models.PositiveIntegerField(_("ties"))
    both_bad = models.PositiveIntegerField(_("both bad"))
    votes = models.PositiveIntegerField(_("vote count"))
    # Wins / (wins + losses); null until the contender has a decisive vote.
    win_rate = models.FloatField(_("win rate"), null=True, blank=True)
    # Fewer votes than ARENA_PRELIMINARY_VOTES: shown, but marked as not settled yet.
    preliminary = models.BooleanField(_("preliminary"), default=False)
    # The worst rank the bootstrap interval allows (`rank` is the best): ratings/fragility.py.
    rank_worst = models.PositiveIntegerField(_("worst rank"), null=True, blank=True)
    # The fewest votes whose removal would put the contender ranked next below level with or above
    # this one (a refit confirms it); null for the last row, or when more than the search goes to.
    robust_votes = models.PositiveIntegerField(_("robust to votes"), null=True, blank=True)
    # Style control (ratings/style.py): the rating with answer length and markdown held constant, its
    # 95% interval and the ranks it allows. Null when style control is off or no vote has both answers.
    style_rating = models.FloatField(_("style-controlled rating"), null=True, blank=True)
    style_low = models.FloatField(_("style-controlled interval, low"), null=True, blank=True)
    style_high = models.FloatField(_("style-controlled interval, high"), null=True, blank=True)
    style_rank = models.PositiveIntegerField(_("style-controlled rank"), null=True, blank=True)
    style_rank_worst = models.PositiveIntegerField(_("style-controlled worst rank"), null=True, blank=True)
    # Decoding variance (ratings/decoding.py): the 95% half-width of the rating from resampling the
    # answers' samples within questions, and its variance as a share of the vote bootstrap's. Null
    # where the contender never has two samples of a question.
    sampling_half_width = models.FloatField(_("half-width from sampling"), null=True, blank=True)
    sampling_share = models.FloatField(_("share of uncertainty from sampling"), null=True, blank=True)
    # With the weak prior on (ARENA_RATING_PRIOR_POINTS), the unregularised maximum-likelihood rating
    # and its bootstrap interval; null when the prior is off (the rating above is then that one).
    mle_rating = models.FloatField(_("maximum-likelihood rating"), null=True, blank=True)
    mle_low = models.FloatField(_("maximum-likelihood interval, low"), null=True, blank=True)
    mle_high = models.FloatField(_("maximum-likelihood interval, high"), null=True, blank=True)

    class Meta:
        ordering = ["rank", "-bt_rating"]
        verbose_name = _("contender rating")
        verbose_name_plural = _("contender ratings")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "contender"], name="rating_unique_snapshot_contender")
        ]

    def __str__(self) -> str:
        return f"{self.contender}: {self.bt_rating:.0f}"


class RatingMatrix(models.Model):
    """A snapshot's pairwise matrices, rows and columns in `contender_ids` order (kept for recent
    snapshots only; history keeps the per-contender rows)."""

    snapshot = models.OneToOneField(
        RatingSnapshot, on_delete=models.CASCADE, related_name="matrices", verbose_name=_("snapshot")
    )
    contender_ids = models.JSONField(_("contender ids, in order"))
    battle_counts = models.JSONField(_("battle counts"))
    # Observed share of decisive battles row beat column (null: no decisive battle).
    win_rates = models.JSONField(_("win rates"))
    # Bradley–Terry's probability that row beats column.
    predicted_win_rates = models.JSONField(_("predicted win rates"))

    class Meta:
        verbose_name = _("rating matrices")
        verbose_name_plural = _("rating matrices")

    def __str__(self) -> str:
        return gettext("matrices of snapshot %(id)s") % {"id": self.snapshot_id}
