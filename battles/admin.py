from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from battles.models import Answer, Battle, Category, Contender, Question, Vote, Voter
from battles.services.bank import question_text_sha256


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "category", "language", "is_active", "external_id", "created_at"]
    list_filter = ["is_active", "language", "category"]
    search_fields = ["text", "external_id", "source"]
    list_editable = ["is_active"]
    readonly_fields = ["created_at"]
    actions = ["activate", "deactivate"]

    @admin.display(description=_("text"))
    def short_text(self, question: Question) -> str:
        return question.text[:80]

    def save_model(self, request: HttpRequest, obj: Question, form: Any, change: bool) -> None:
        obj.text_sha256 = question_text_sha256(obj.text)
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Activate the selected questions"))
    def activate(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        queryset.update(is_active=True)

    @admin.action(description=_("Deactivate the selected questions"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        queryset.update(is_active=False)


@admin.register(Contender)
class ContenderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "model_id", "base_url", "updated_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "model_id", "base_url", "description"]
    list_editable = ["is_active"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "description"]}),
        (_("Endpoint"), {"fields": ["base_url", "model_id", "api_key_env", "request_timeout_seconds"]}),
        (
            _("Generation"),
            {"fields": ["system_prompt", "temperature", "top_p", "max_tokens", "seed", "extra_parameters"]},
        ),
    ]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "contender",
        "short_question",
        "sample_index",
        "status",
        "latency_ms",
        "attempts",
        "finished_at",
    ]
    list_filter = ["status", "contender", "question__category"]
    search_fields = ["text", "error", "question__text", "contender__name"]
    list_select_related = ["contender", "question"]
    readonly_fields = ["html", "created_at", "started_at", "finished_at", "attempts"]
    raw_id_fields = ["question"]

    @admin.display(description=_("question"))
    def short_question(self, answer: Answer) -> str:
        return answer.question.text[:60]


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "contender_a",
        "contender_b",
        "status",
        "question",
        "created_at",
        "served_at",
        "voted_at",
    ]
    list_filter = ["status", "question__category"]
    search_fields = ["contender_a__name", "contender_b__name", "question__text"]
    list_select_related = ["contender_a", "contender_b", "question"]
    raw_id_fields = ["question", "answer_a", "answer_b", "voter"]
    date_hierarchy = "created_at"


@admin.register(Voter)
class VoterAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "last_seen_at"]
    search_fields = ["id"]
    readonly_fields = ["id", "created_at", "last_seen_at"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["id", "contender_a", "contender_b", "outcome", "category", "created_at", "battle"]
    list_filter = ["outcome", "category", "contender_a", "contender_b"]
    search_fields = ["contender_a__name", "contender_b__name", "voter__id"]
    list_select_related = ["contender_a", "contender_b", "category"]
    raw_id_fields = ["battle", "voter"]
    date_hierarchy = "created_at"
