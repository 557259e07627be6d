from typing import Any

from rest_framework import serializers

from battles.models import Category
from battles.serializers import (
    CategorySerializer,
    ContenderNameSerializer,
    JSONObjectField,
    JSONTextListField,
)
from ratings.boards import board_rows
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot
from ratings.selectors import leaderboard_row_values


class SnapshotSerializer(serializers.ModelSerializer[RatingSnapshot]):
    category = CategorySerializer(allow_null=True)
    flags = JSONTextListField(help_text="Warnings from the fit, e.g. undefeated, disconnected.")
    parameters = JSONObjectField(help_text="The settings the snapshot was computed with.")

    class Meta:
        model = RatingSnapshot
        fields = [
            *["id", "created_at", "category", "vote_count", "last_vote_at", "duration_ms", "vote_lag_ms"],
            *["flags", "parameters"],
        ]


class ContenderRatingSerializer(serializers.ModelSerializer[ContenderRating]):
    contender = ContenderNameSerializer()
    retired = serializers.BooleanField(
        source="contender.is_retired", help_text="Retired: never drawn again; its votes still count."
    )

    class Meta:
        model = ContenderRating
        fields = [
            *["rank", "rank_worst", "contender", "retired", "bt_rating", "ci_low", "ci_high"],
            *["sandwich_low", "sandwich_high", "robust_votes", "elo"],
            *["win_rate", "wins", "losses", "ties", "both_bad", "votes", "preliminary"],
            *["style_rank", "style_rank_worst", "style_rating", "style_low", "style_high"],
            *["sampling_half_width", "sampling_share", "mle_rating", "mle_low", "mle_high"],
        ]
        extra_kwargs = {
            "rank_worst": {"help_text": "The worst rank the 95% interval allows (rank is the best)."},
            "robust_votes": {
                "help_text": "The fewest votes whose removal would put the next contender below level "
                "with or above this one (first-order influence, confirmed by a refit); null: the last "
                "row, or more than ARENA_FRAGILITY_MAX_VOTES."
            },
            "style_rating": {"help_text": "The rating with answer length and markdown held constant."},
            "sampling_half_width": {
                "help_text": "95% half-width of the rating from resampling answer samples within "
                "questions; null where the contender never has two samples of a question."
            },
            "sampling_share": {"help_text": "That variance as a share of the vote bootstrap's variance."},
            "mle_rating": {
                "help_text": "With the weak prior on: the unregularised maximum-likelihood rating."
            },
        }


class BoardSnapshotSerializer(SnapshotSerializer):
    """The snapshot a board shows: a board with no snapshot yet (before the first vote) has none, shown
    with a null id and times, 0 votes and no rows."""

    id = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)
    duration_ms = serializers.IntegerField(min_value=0, allow_null=True)

    class Meta(SnapshotSerializer.Meta):
        pass


class LeaderboardSerializer(serializers.Serializer[Any]):
    snapshot = BoardSnapshotSerializer()
    board = serializers.ChoiceField(choices=["raw", "style"], help_text="The order of the rows.")
    ratings = ContenderRatingSerializer(many=True)


class SnapshotBoardSerializer(serializers.Serializer[Any]):
    """One snapshot with its rows."""

    snapshot = SnapshotSerializer()
    board = serializers.ChoiceField(choices=["raw", "style"], help_text="The order of the rows.")
    ratings = ContenderRatingSerializer(many=True)


def leaderboard_data(
    snapshot: RatingSnapshot, *, board: str = "raw", with_retired: bool = False
) -> dict[str, Any]:
    """What LeaderboardSerializer gives for the snapshot's board, built from the rows' values: about
    ten times faster than serializing model instances (130 rows in about a millisecond)."""
    fields = ContenderRatingSerializer.Meta.fields
    stored = [name for name in fields if name not in ("contender", "retired")]
    rows = leaderboard_row_values(snapshot=snapshot, fields=stored, with_retired_flag=True)
    for row in rows:
        row["retired"] = row.pop("contender__is_retired")
    shown = board_rows(
        rows, board=board, with_retired=with_retired, get=dict.__getitem__, put=dict.__setitem__
    )
    ratings = [
        {
            name: {"id": row["contender_id"], "name": row["contender__name"]}
            if name == "contender"
            else row[name]
            for name in fields
        }
        for row in shown
    ]
    return {"snapshot": SnapshotSerializer(snapshot).data, "board": board, "ratings": ratings}


def empty_snapshot_data(category: Category | None) -> dict[str, Any]:
    """BoardSnapshotSerializer's body for a board that has no snapshot yet."""
    return {
        "id": None,
        "created_at": None,
        "category": None if category is None else CategorySerializer(category).data,
        "vote_count": 0,
        "last_vote_at": None,
        "duration_ms": None,
        "vote_lag_ms": None,
        "flags": [],
        "parameters": {},
    }


def empty_leaderboard_data(category: Category | None, *, board: str = "raw") -> dict[str, Any]:
    """What the leaderboard shows before the first snapshot of its board: an empty board."""
    return {"snapshot": empty_snapshot_data(category), "board": board, "ratings": []}


def empty_matrices_data(category: Category | None) -> dict[str, Any]:
    return {
        "snapshot": empty_snapshot_data(category),
        "contenders": [],
        "battle_counts": [],
        "win_rates": [],
        "predicted_win_rates": [],
    }


class MatricesSerializer(serializers.ModelSerializer[RatingMatrix]):
    snapshot = BoardSnapshotSerializer()
    contenders = serializers.SerializerMethodField()
    battle_counts = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    win_rates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="[row][column]: the row's share of decisive battles against the column (ties excluded).",
    )
    predicted_win_rates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="[row][column]: Bradley–Terry's probability that the row beats the column.",
    )

    class Meta:
        model = RatingMatrix
        fields = ["snapshot", "contenders", "battle_counts", "win_rates", "predicted_win_rates"]

    def get_contenders(self, matrices: RatingMatrix) -> list[dict[str, Any]]:
        names: dict[int, str] = self.context["names"]
        return [
            {"id": contender_id, "name": names.get(contender_id, "")}
            for contender_id in matrices.contender_ids
        ]


class RefreshQueuedSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()


class CleanBattleSerializer(serializers.Serializer[Any]):
    """A battle of Chatbot Arena's clean_battle log (the `clean_battle` export format)."""

    question_id = serializers.CharField()
    model_a = serializers.CharField()
    model_b = serializers.CharField()
    winner = serializers.ChoiceField(choices=["model_a", "model_b", "tie", "tie (bothbad)"])
    judge = serializers.CharField()
    turn = serializers.IntegerField()
    anony = serializers.BooleanField()
    language = serializers.CharField(allow_blank=True)
    tstamp = serializers.FloatField()
