"""What the API shows of the battles app. Public serializers never carry an endpoint's settings."""

import re
from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from battles.models import Answer, Battle, Category, Contender, Question, Vote
from battles.services.proof_of_work import COUNTER_MAX_DIGITS


class CategorySerializer(serializers.ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ["code", "name"]


class PublicContenderSerializer(serializers.ModelSerializer[Contender]):
    """A contender as the public sees it: no URL, model id, key variable, headers or parameters."""

    class Meta:
        model = Contender
        fields = ["id", "name", "kind", "description", "is_active", "created_at"]


class ContenderNameSerializer(serializers.ModelSerializer[Contender]):
    class Meta:
        model = Contender
        fields = ["id", "name"]


class QuestionSerializer(serializers.ModelSerializer[Question]):
    category = CategorySerializer()

    class Meta:
        model = Question
        fields = ["id", "external_id", "text", "category", "language", "created_at"]


class AnswerSerializer(serializers.ModelSerializer[Answer]):
    class Meta:
        model = Answer
        fields = ["text", "html"]


class VotedBattleSerializer(serializers.ModelSerializer[Battle]):
    """A voted battle with its names. The answers' texts come with them only for staff (or with
    ARENA_API_PUBLIC_ANSWERS): an answer published next to its model's name would be recognised when
    it comes up in another battle. Otherwise answer_a and answer_b are null."""

    question = QuestionSerializer()
    contender_a = ContenderNameSerializer()
    contender_b = ContenderNameSerializer()
    answer_a = AnswerSerializer(allow_null=True)
    answer_b = AnswerSerializer(allow_null=True)
    outcome = serializers.ChoiceField(choices=Vote.Outcome.choices, source="vote.outcome")

    def to_representation(self, instance: Battle) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("answers_shown", False):
            data["answer_a"] = data["answer_b"] = None
        return data

    class Meta:
        model = Battle
        fields = [
            "id",
            "question",
            "contender_a",
            "contender_b",
            "answer_a",
            "answer_b",
            "outcome",
            "voted_at",
        ]


class OpenBattleSerializer(serializers.ModelSerializer[Battle]):
    """A battle served for voting: the names stay hidden until the vote."""

    question = QuestionSerializer()
    answer_a = AnswerSerializer()
    answer_b = AnswerSerializer()

    class Meta:
        model = Battle
        fields = ["id", "question", "answer_a", "answer_b", "served_at"]


class NextBattleSerializer(serializers.Serializer[Any]):
    voter_token = serializers.CharField(help_text="Send it back as the X-Arena-Voter header.")
    status = serializers.ChoiceField(choices=["ready", "preparing"])
    battle = OpenBattleSerializer(allow_null=True)
    retry_after_seconds = serializers.IntegerField(allow_null=True)
    pow_challenge = serializers.CharField(
        allow_null=True,
        help_text="With a proof of work required (pow_bits above 0), the battle's challenge: find a "
        'decimal counter such that SHA-256 of "{pow_challenge}:{counter}" starts with pow_bits zero '
        "bits, and send it as the vote's pow. Null when none is required or no battle is ready.",
    )
    pow_bits = serializers.IntegerField(
        min_value=0, help_text="Leading zero bits the proof of work needs (ARENA_VOTE_POW_BITS); 0: none."
    )


# The voting endpoints run on every vote: their bodies are built by hand, equal to what the serializers
# above give (tests/api/test_hot_path_bodies.py), which stay the schema's.
_when = serializers.DateTimeField()


def _when_shown(value: Any) -> Any:
    return None if value is None else _when.to_representation(value)


def open_battle_body(battle: Battle) -> dict[str, Any]:
    """OpenBattleSerializer(battle).data, built by hand."""
    question = battle.question
    category = question.category
    return {
        "id": battle.pk,
        "question": {
            "id": question.pk,
            "external_id": question.external_id,
            "text": question.text,
            "category": {"code": category.code, "name": category.name},
            "language": question.language,
            "created_at": _when_shown(question.created_at),
        },
        "answer_a": {"text": battle.answer_a.text, "html": battle.answer_a.html},
        "answer_b": {"text": battle.answer_b.text, "html": battle.answer_b.html},
        "served_at": _when_shown(battle.served_at),
    }


def next_battle_body(
    *,
    voter_token: str,
    battle: Battle | None,
    retry_after_seconds: int | None,
    pow_challenge: str | None = None,
    pow_bits: int = 0,
) -> dict[str, Any]:
    """NextBattleSerializer's data, built by hand."""
    return {
        "voter_token": voter_token,
        "status": "ready" if battle else "preparing",
        "battle": None if battle is None else open_battle_body(battle),
        "retry_after_seconds": retry_after_seconds,
        "pow_challenge": pow_challenge,
        "pow_bits": pow_bits,
    }


def vote_result_body(vote: Vote) -> dict[str, Any]:
    """VoteResultSerializer(vote).data, built by hand (the contenders' names already loaded)."""
    return {
        "id": vote.pk,
        "battle": vote.battle_id,
        "outcome": vote.outcome,
        "contender_a": {"id": vote.contender_a_id, "name": vote.contender_a.name},
        "contender_b": {"id": vote.contender_b_id, "name": vote.contender_b.name},
        "created_at": _when_shown(vote.created_at),
        "decision_ms": vote.decision_ms,
        "reason": vote.reason,
    }


class TextOnlyField(serializers.CharField):
    """A CharField that takes a JSON string only: DRF's own turns a number into its digits."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


_REASON_MAX_LENGTH = 500  # Vote.reason's
_POW_FORMAT = re.compile(rf"[0-9]{{1,{COUNTER_MAX_DIGITS}}}")


class VoteRequestSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=Vote.Outcome.choices)
    reason = TextOnlyField(
        max_length=_REASON_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Optional, why: kept with the first vote only.",
    )
    pow = TextOnlyField(
        max_length=COUNTER_MAX_DIGITS,
        required=False,
        validators=[RegexValidator(r"\A[0-9]+\Z")],
        help_text="The proof of work, when POST battles/next/ gave a pow_challenge: the counter found, "
        "in decimal digits. Ignored when none is required.",
    )


def vote_request_validated(data: Any) -> dict[str, Any]:
    """VoteRequestSerializer(data=data)'s validated data, checked by hand for a usual body (a verdict,
    a reason within its length or none, a proof of work in digits or none); anything else goes
    through the serializer, which raises its own errors."""
    if isinstance(data, dict) and isinstance(data.get("outcome"), str) and data["outcome"] in _OUTCOMES:
        validated = {"outcome": data["outcome"]}
        proof = data.get("pow", _ABSENT)
        if proof is _ABSENT or (isinstance(proof, str) and _POW_FORMAT.fullmatch(proof)):
            if proof is not _ABSENT:
                validated["pow"] = proof
            reason = data.get("reason", _ABSENT)
            if reason is _ABSENT:
                return validated
            if isinstance(reason, str) and len(reason.strip()) <= _REASON_MAX_LENGTH and _plain(reason):
                return {**validated, "reason": reason.strip()}
    body = VoteRequestSerializer(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


def _plain(text: str) -> bool:
    """Text the serializer's own checks let through: no NUL character, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_OUTCOMES = frozenset(Vote.Outcome.values)
_ABSENT = object()


class VoteResultSerializer(serializers.ModelSerializer[Vote]):
    battle = serializers.IntegerField(source="battle_id")
    contender_a = ContenderNameSerializer()
    contender_b = ContenderNameSerializer()

    class Meta:
        model = Vote
        fields = [
            "id",
            "battle",
            "outcome",
            "contender_a",
            "contender_b",
            "created_at",
            "decision_ms",
            "reason",
        ]


class _JSONField(serializers.JSONField):
    """DRF's JSONField, which may say what to send instead of null (through null_message: DRF's own
    error messages go through str.format, which a message showing {} cannot)."""

    def __init__(self, *, null_message: Any = None, **kwargs: Any) -> None:
        self.null_message = null_message
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and not self.allow_null and self.null_message is not None:
            raise serializers.ValidationError(str(self.null_message), code="null")
        return super().validate_empty_values(data)


# JSON fields with their type in the schema (DRF's JSONField has none: any value, null included).
@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(_JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class JSONTextObjectField(_JSONField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class JSONTextListField(_JSONField):
    pass


def _contender_json_field(field_class: type[_JSONField], name: str, null_message: Any) -> Any:
    """One of the contender's JSON fields, typed in the schema and never null: the empty value says "none"."""
    model_field = Contender._meta.get_field(name)
    assert isinstance(model_field, models.JSONField)
    return field_class(
        required=False,
        label=capfirst(model_field.verbose_name),
        help_text=model_field.help_text,
        null_message=null_message,
    )


class StaffContenderSerializer(serializers.ModelSerializer[Contender]):
    """Everything staff may set. The API key itself never passes: only the name of its variable."""

    # The model's own validators check the shapes (in validate); these fields give the schema its types.
    extra_headers = _contender_json_field(
        JSONTextObjectField, "extra_headers", _("May not be null: send {} for no extra headers.")
    )
    stop = _contender_json_field(
        JSONTextListField, "stop", _("May not be null: send [] for no stop sequences.")
    )
    extra_parameters = _contender_json_field(
        JSONObjectField, "extra_parameters", _("May not be null: send {} for no extra parameters.")
    )

    class Meta:
        model = Contender
        fields = [
            *["id", "name", "kind", "description", "is_active", "base_url", "model_id", "api_key_env"],
            *["extra_headers", "system_prompt", "temperature", "top_p", "max_tokens", "seed", "stop"],
            *[
                "extra_parameters",
                "request_timeout_seconds",
                "stream",
                "stream_usage",
                "max_concurrent_requests",
                "server_slots",
            ],
            *[
                "sampling_weight",
                "samples_per_question",
                "consecutive_failures",
                "paused_at",
                "paused_reason",
                "paused_until",
                "last_error",
            ],
            *["last_success_at", "created_at", "updated_at"],
        ]
        read_only_fields = [
            *[
                "server_slots",
                "consecutive_failures",
                "paused_at",
                "paused_reason",
                "paused_until",
                "last_error",
                "last_success_at",
                "created_at",
                "updated_at",
            ]
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's own checks (URL, key variable name, ranges, constraints), as the admin runs them.
        instance = Contender(**{**({} if self.instance is None else _fields_of(self.instance)), **attrs})
        try:
            instance.full_clean(exclude=["id"], validate_unique=self.instance is None)
        except Exception as error:  # django.core.exceptions.ValidationError
            message_dict = getattr(error, "message_dict", None)
            if message_dict is None:
                raise
            raise serializers.ValidationError(message_dict) from error
        return attrs


def _fields_of(contender: Contender) -> dict[str, Any]:
    return {field.attname: getattr(contender, field.attname) for field in Contender._meta.concrete_fields}


class BankImportRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="A bank in JSONL (.jsonl), CSV (.csv) or the seed projects' markdown (.md)."
    )
    dry_run = serializers.BooleanField(default=False)


class BankImportReportSerializer(serializers.Serializer[Any]):
    questions_created = serializers.IntegerField()
    questions_existing = serializers.IntegerField()
    categories_created = serializers.IntegerField()
    contenders_created = serializers.IntegerField()
    answers_created = serializers.IntegerField()
    answers_existing = serializers.IntegerField()
    notices = serializers.ListField(child=serializers.CharField())
    dry_run = serializers.BooleanField()
