from django.contrib import admin

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


@admin.register(RatingSnapshot)
class RatingSnapshotAdmin(admin.ModelAdmin):
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
class ContenderRatingAdmin(admin.ModelAdmin):
    list_display = ["contender", "snapshot", "rank", "bt_rating", "elo", "win_rate", "votes", "preliminary"]
    list_filter = ["preliminary", "contender"]
    search_fields = ["contender__name"]
    list_select_related = ["contender", "snapshot"]


@admin.register(PairCount)
class PairCountAdmin(admin.ModelAdmin):
    list_display = ["category_key", "contender_a", "contender_b", "outcome", "count"]
    list_filter = ["category_key", "outcome"]
    search_fields = ["contender_a__name", "contender_b__name"]
    list_select_related = ["contender_a", "contender_b"]
    readonly_fields = ["category_key", "contender_a", "contender_b", "outcome", "count"]


@admin.register(EloRating)
class EloRatingAdmin(admin.ModelAdmin):
    list_display = ["contender", "category_key", "rating"]
    list_filter = ["category_key"]
    search_fields = ["contender__name"]
    list_select_related = ["contender"]
    readonly_fields = ["contender", "category_key", "rating"]


@admin.register(RatingsState)
class RatingsStateAdmin(admin.ModelAdmin):
    list_display = ["id", "elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]
    search_fields = ["id"]
    readonly_fields = ["elo_through_at", "elo_through_id", "elo_max_vote_id", "elo_vote_count"]


@admin.register(RatingMatrix)
class RatingMatrixAdmin(admin.ModelAdmin):
    list_display = ["snapshot", "contender_count"]
    search_fields = ["snapshot__id"]
    readonly_fields = ["snapshot", "contender_ids", "battle_counts", "win_rates", "predicted_win_rates"]

    @admin.display(description="contenders")
    def contender_count(self, matrices: RatingMatrix) -> int:
        return len(matrices.contender_ids)
