from typing import Any

from rest_framework import serializers

from battles.serializers import (
    CategorySerializer,
    ContenderNameSerializer,
    JSONObjectField,
    JSONTextListField,
)
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot


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

    class Meta:
        model = ContenderRating
        fields = [
            *["rank", "contender", "bt_rating", "ci_low", "ci_high", "sandwich_low", "sandwich_high", "elo"],
            *["win_rate", "wins", "losses", "ties", "both_bad", "votes", "preliminary"],
        ]


class LeaderboardSerializer(serializers.Serializer[Any]):
    snapshot = SnapshotSerializer()
    ratings = ContenderRatingSerializer(many=True)


def leaderboard_data(snapshot: RatingSnapshot) -> dict[str, Any]:
    """What LeaderboardSerializer gives for the snapshot's board, built from the rows' values: about
    ten times faster than serializing model instances (130 rows in about a millisecond)."""
    fields = ContenderRatingSerializer.Meta.fields
    rows = snapshot.ratings.order_by("rank", "-bt_rating", "contender__name").values(
        *[name for name in fields if name != "contender"], "contender_id", "contender__name"
    )
    ratings = [
        {
            name: {"id": row["contender_id"], "name": row["contender__name"]}
            if name == "contender"
            else row[name]
            for name in fields
        }
        for row in rows
    ]
    return {"snapshot": SnapshotSerializer(snapshot).data, "ratings": ratings}


class MatricesSerializer(serializers.ModelSerializer[RatingMatrix]):
    snapshot = SnapshotSerializer()
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
