from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from arena.admin_site import RecordAdmin
from ratings.algorithms import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE
from ratings.models import (
    ALL_CATEGORIES,
    ContenderRating,
    EloRating,
    PairCount,
    RatingMatrix,
    RatingSnapshot,
    RatingsState,
)
from ratings.selectors import categories_by_code, with_category_names

# The outcome codes of the pair counters (ratings.algorithms), as staff read them.
OUTCOME_LABELS = {
    OUTCOME_A: _("A won"),
    OUTCOME_B: _("B won"),
    OUTCOME_TIE: _("tie"),
    OUTCOME_BOTH_BAD: _("both bad"),
}


class ContenderRatingInline(admin.TabularInline):
    model = ContenderRating
    extra = 0
    can_delete = False
    readonly_fields = [
        *["contender", "rank", "bt_rating", "ci_low", "ci_high", "sandwich_low", "sandwich_high", "elo"],
        *["wins", "losses", "ties", "both_bad", "votes", "win_rate", "preliminary"],
    ]
    ordering = ["rank", "-bt_rating"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ComputedAdmin(RecordAdmin):
    """Everything here is computed from the votes: shown, never typed in. (Deleting snapshots is
    fine; the counters and Elo state are rebuilt with `manage.py ratings_rebuild`, not by hand.)"""


class RunningStateAdmin(ComputedAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CategoryKeyFilter(admin.SimpleListFilter):
    """The counters' category key: a category's id, or every category together."""

    title = _("category")
    parameter_name = "category_key"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        categories = [(str(category.pk), str(category)) for category in categories_by_code()]
        return [(str(ALL_CATEGORIES), _("all categories")), *categories]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(category_key=int(value)) if value and value.isdigit() else queryset


class CategoryKeyNamed(admin.ModelAdmin):
    """Lists of rows kept per category key, with the category's name in the list's own query."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return with_category_names(super().get_queryset(request))

    @admin.display(description=_("category"), ordering="category_key")
    def category(self, row: PairCount | EloRating) -> str:
        if row.category_key == ALL_CATEGORIES:
            return str(_("all categories"))
        return cast(str, getattr(row, "category_name", "")) or str(row.category_key)


class OutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(str(code), label) for code, label in OUTCOME_LABELS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PairCount]) -> QuerySet[PairCount]:
        value = self.value()
        return queryset.filter(outcome=int(value)) if value and value.isdigit() else queryset


@admin.register(RatingSnapshot)
class RatingSnapshotAdmin(ComputedAdmin):
    list_display = [
        *["id", "created_at", "board", "vote_count", "last_vote_id", "duration_ms", "vote_lag_ms"],
    ]
    list_filter = ["category", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id"]
    search_help_text = _("Finds a snapshot by its number.")
    list_select_related = ["category"]
    readonly_fields = [
        *["created_at", "category", "vote_count", "last_vote_id", "last_vote_at", "duration_ms"],
        *["vote_lag_ms", "flags", "parameters"],
    ]
    inlines = [ContenderRatingInline]

    @admin.display(description=_("category"), ordering="category__code")
    def board(self, snapshot: RatingSnapshot) -> str:
        return str(_("all categories")) if snapshot.category is None else str(snapshot.category)


@admin.register(ContenderRating)
class ContenderRatingAdmin(ComputedAdmin):
    list_display = ["contender", "snapshot", "rank", "bt_rating", "elo", "win_rate", "votes", "preliminary"]
    list_filter = ["preliminary", "snapshot__category", "contender"]
    search_fields = ["contender__name"]
    search_help_text = _("Searches the contender's name.")
    list_select_related = ["contender", "snapshot"]
    # The newest snapshot's board first, best first.
    ordering = ["-snapshot_id", "rank", "-bt_rating"]


@admin.register(PairCount)
class PairCountAdmin(CategoryKeyNamed, RunningStateAdmin):
    list_display = ["category", "contender_a", "contender_b", "outcome_label", "count"]
    list_filter = [CategoryKeyFilter, OutcomeFilter]
    search_fields = ["contender_a__name", "contender_b__name"]
    search_help_text = _("Searches the contenders' names.")
    list_select_related = ["contender_a", "contender_b"]
    ordering = ["category_key", "contender_a__name", "contender_b__name", "outcome"]
    readonly_fields = ["category_key", "contender_a", "contender_b", "outcome", "count"]

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_label(self, pair: PairCount) -> str:
        return str(OUTCOME_LABELS.get(pair.outcome, pair.outcome))


@admin.register(EloRating)
class EloRatingAdmin(CategoryKeyNamed, RunningStateAdmin):
    list_display = ["contender", "category", "rating"]
    list_filter = [CategoryKeyFilter]
    search_fields = ["contender__name"]
    search_help_text = _("Searches the contender's name.")
    list_select_related = ["contender"]
    ordering = ["category_key", "-rating"]
    readonly_fields = ["contender", "category_key", "rating"]


@admin.register(RatingsState)
class RatingsStateAdmin(RunningStateAdmin):
    list_display = ["id", "elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]
    readonly_fields = ["elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]


@admin.register(RatingMatrix)
class RatingMatrixAdmin(ComputedAdmin):
    list_display = ["snapshot", "category", "contender_count"]
    list_filter = ["snapshot__category"]
    search_fields = ["=snapshot__id"]
    search_help_text = _("Finds the matrices of a snapshot by its number.")
    list_select_related = ["snapshot__category"]
    ordering = ["-snapshot_id"]
    readonly_fields = ["snapshot", "contender_ids", "battle_counts", "win_rates", "predicted_win_rates"]

    @admin.display(description=_("category"), ordering="snapshot__category__code")
    def category(self, matrices: RatingMatrix) -> str:
        category = matrices.snapshot.category
        return str(_("all categories")) if category is None else str(category)

    @admin.display(description=_("contender count"))
    def contender_count(self, matrices: RatingMatrix) -> int:
        return len(matrices.contender_ids)
