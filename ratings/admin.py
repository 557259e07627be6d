from django.contrib import admin

from ratings.models import ContenderRating, RatingSnapshot


class ContenderRatingInline(admin.TabularInline):
    model = ContenderRating
    extra = 0
    can_delete = False
    readonly_fields = ["contender", "elo", "wins", "losses", "ties", "both_bad", "votes", "win_rate"]
    ordering = ["-elo"]


@admin.register(RatingSnapshot)
class RatingSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "category", "vote_count", "last_vote_id", "duration_ms"]
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
    list_display = ["contender", "snapshot", "elo", "win_rate", "wins", "losses", "ties", "both_bad", "votes"]
    list_filter = ["contender"]
    search_fields = ["contender__name"]
    list_select_related = ["contender", "snapshot"]
