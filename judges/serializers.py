"""The judge board in the API: `GET /api/v1/leaderboard/?board=judge`."""

from typing import Any

from rest_framework import serializers

from battles.models import Category
from battles.serializers import CategorySerializer, JSONObjectField, JSONTextListField
from judges.models import JudgeSnapshot
from judges.selectors import JudgeBoard, judge_rating_as_dict


class JudgeSnapshotSerializer(serializers.ModelSerializer[JudgeSnapshot]):
    id = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)
    category = CategorySerializer(allow_null=True)
    flags = JSONTextListField(help_text="Warnings from the fit, e.g. undefeated, disconnected.")
    parameters = JSONObjectField(
        help_text="How the board was computed: the strong-win weight, bootstrap rounds, the human "
        "snapshot compared with, the style coefficients (parameters.style)."
    )

    class Meta:
        model = JudgeSnapshot
        fields = ["id", "created_at", "category", "verdict_count", "duration_ms", "flags", "parameters"]


class JudgeRatingSerializer(serializers.Serializer[Any]):
    rank = serializers.IntegerField(help_text="Best rank the interval allows (Chatbot Arena's rank).")
    rank_worst = serializers.IntegerField()
    name = serializers.CharField()
    rating = serializers.FloatField(help_text="Bradley–Terry from the judges' verdicts, Elo scale.")
    low = serializers.FloatField(help_text="95% bootstrap interval.")
    high = serializers.FloatField()
    style_rating = serializers.FloatField(allow_null=True, help_text="Style-controlled judge rating.")
    style_low = serializers.FloatField(allow_null=True)
    style_high = serializers.FloatField(allow_null=True)
    style_rank = serializers.IntegerField(allow_null=True)
    verdicts = serializers.IntegerField(help_text="Verdicts on its battles (each order counts).")
    wins = serializers.IntegerField(help_text="Games won, a strong win counting as strong_win_weight.")
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    human_votes = serializers.IntegerField(help_text="Its votes on the human board.")
    human_rating = serializers.FloatField(allow_null=True)
    human_rank = serializers.IntegerField(allow_null=True)
    cold_start = serializers.BooleanField(
        help_text="Fewer human votes than ARENA_PRELIMINARY_VOTES: the judges' rating is the first estimate."
    )
    retired = serializers.BooleanField()


class JudgeAgreementSerializer(serializers.Serializer[Any]):
    judge = serializers.CharField()
    judge_id = serializers.IntegerField()
    verdicts = serializers.IntegerField()
    battles_both_orders = serializers.IntegerField(help_text="Battles judged in both orders.")
    battles = serializers.IntegerField(help_text="Of those, battles with a counted human vote: compared.")
    agree_share = serializers.FloatField(
        allow_null=True,
        help_text="Share of compared battles where the judge's verdict (sign of its two orders' scores "
        "together) equals the voter's; a human tie or both-bad and a judge's tie are one label.",
    )
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa over the three labels.")
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="3×3: rows the judge's label (B, tie, A), columns the voter's.",
    )
    flip_rate = serializers.FloatField(
        allow_null=True, help_text="Share of battles whose verdict changes side when the answers swap places."
    )
    first_shown_win_share = serializers.FloatField(
        allow_null=True, help_text="Share of decisive verdicts won by the answer shown first."
    )
    judge_longer_share = serializers.FloatField(
        allow_null=True, help_text="Share of decisive verdicts (answers of different length) the longer won."
    )
    human_longer_share = serializers.FloatField(allow_null=True, help_text="The same for the voters.")
    contenders = serializers.IntegerField(help_text="Contenders on both boards.")
    spearman = serializers.FloatField(allow_null=True, help_text="Between the judge's and the voters' board.")
    kendall = serializers.FloatField(allow_null=True, help_text="Kendall's tau-b, the same boards.")
    statuses = JSONObjectField(required=False, help_text="The judge's verdicts by status (overall board).")


class CategoryAgreementSerializer(serializers.Serializer[Any]):
    category = CategorySerializer()
    agreement = JudgeAgreementSerializer(many=True)


class JudgeBoardSerializer(serializers.Serializer[Any]):
    snapshot = JudgeSnapshotSerializer()
    board = serializers.ChoiceField(choices=["judge"])
    ratings = JudgeRatingSerializer(many=True)
    agreement = JudgeAgreementSerializer(many=True, help_text="Per judge, on this board's battles.")
    categories = CategoryAgreementSerializer(many=True, help_text="Per category (all-categories board only).")


def judge_board_data(board: JudgeBoard, category: Category | None) -> dict[str, Any]:
    if board.snapshot is None:
        snapshot: dict[str, Any] = {
            "id": None,
            "created_at": None,
            "category": None if category is None else CategorySerializer(category).data,
            "verdict_count": 0,
            "duration_ms": 0,
            "flags": [],
            "parameters": {},
        }
    else:
        snapshot = JudgeSnapshotSerializer(board.snapshot).data
    return {
        "snapshot": snapshot,
        "board": "judge",
        "ratings": [judge_rating_as_dict(row) for row in board.rows],
        "agreement": board.agreement,
        "categories": [
            {"category": CategorySerializer(item).data, "agreement": agreement}
            for item, agreement in board.categories
        ],
    }
