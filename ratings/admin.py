from django.contrib import admin
from django.http import HttpRequest

from ratings.models import ContenderRating, EloRating, PairCount, RatingMatrix, RatingSnapshot, RatingsState


class ContenderRatingInline(admin.TabularInline):
    model = ContenderRating
    extra = 0
    can_delete = False
    readonly_fields = [
        *["contender", "rank", "bt_rating", "ci_low", "ci_high", "sandwich_low", "sandwich_high", "elo"],
        *["wins", "losses", "ties", "both_bad", "votes", "win_rate", "preliminary"],
    ]
    ordering = ["rank", "-bt_rating"]


class ComputedAdmin(admin.ModelAdmin):
    """Everything here is computed from the votes: shown, never typed in. (Deleting snapshots is
    fine; the counters and Elo state are rebuilt with `manage.py ratings_rebuild`, not by hand.)"""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RunningStateAdmin(ComputedAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RatingSnapshot)
class RatingSnapshotAdmin(ComputedAdmin):
    list_display = [
        "id",
        "created_at",
        "category",
        "vote_count",
        "last_vote_id",
        "duration_ms",
        "vote_lag_ms",
    ]
    list_filter = ["category"]
    readonly_fields = [
        "created_at",
        "category",
        "vote_count",
        "last_vote_id",
        "last_vote_at",
        "duration_ms",
        "parameters",
    ]
    inlines = [ContenderRatingInline]


@admin.register(ContenderRating)
class ContenderRatingAdmin(ComputedAdmin):
    list_display = ["contender", "snapshot", "rank", "bt_rating", "elo", "win_rate", "votes", "preliminary"]
    list_filter = ["preliminary", "contender"]
    search_fields = ["contender__name"]
    list_select_related = ["contender", "snapshot"]


@admin.register(PairCount)
class PairCountAdmin(RunningStateAdmin):
    list_display = ["category_key", "contender_a", "contender_b", "outcome", "count"]
    list_filter = ["category_key", "outcome"]
    search_fields = ["contender_a__name", "contender_b__name"]
    list_select_related = ["contender_a", "contender_b"]
    readonly_fields = ["category_key", "contender_a", "contender_b", "outcome", "count"]


@admin.register(EloRating)
class EloRatingAdmin(RunningStateAdmin):
    list_display = ["contender", "category_key", "rating"]
    list_filter = ["category_key"]
    search_fields = ["contender__name"]
    list_select_related = ["contender"]
    readonly_fields = ["contender", "category_key", "rating"]


@admin.register(RatingsState)
class RatingsStateAdmin(RunningStateAdmin):
    list_display = ["id", "elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]
    search_fields = ["id"]
    readonly_fields = ["elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]


@admin.register(RatingMatrix)
class RatingMatrixAdmin(ComputedAdmin):
    list_display = ["snapshot", "contender_count"]
    search_fields = ["snapshot__id"]
    readonly_fields = ["snapshot", "contender_ids", "battle_counts", "win_rates", "predicted_win_rates"]

    @admin.display(description="contenders")
    def contender_count(self, matrices: RatingMatrix) -> int:
        return len(matrices.contender_ids)
