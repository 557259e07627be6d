from functools import partial
from typing import Any, cast

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from arena.admin_site import RecordAdmin
from battles.forms import QuestionForm
from battles.models import (
    Answer,
    AnswerAttempt,
    Battle,
    BrowseVerdict,
    Category,
    Contender,
    Question,
    Vote,
    Voter,
)
from battles.selectors import categories_with_question_counts, voters_who_voted, voters_with_vote_counts
from battles.services.contenders import (
    CONTENDER_FIELD_NAMES,
    ContenderFields,
    NewContender,
    contender_create,
    contender_update,
    contenders_resume,
)
from battles.services.exclusions import EXCLUSION_REASONS, codes_of, votes_exclude, votes_restore
from battles.services.health import (
    concurrency_warning,
    contender_probe,
    contender_server_slots,
    probe_message,
)
from battles.services.questions import questions_set_active


def _short(text: str, length: int) -> str:
    """The text on one line, cut to fit a list column."""
    return Truncator(" ".join(text.split())).chars(length)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "question_count", "active_question_count"]
    search_fields = ["code", "name", "name_en"]
    ordering = ["code"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return categories_with_question_counts(super().get_queryset(request))

    @admin.display(description=_("question count"), ordering="question_count")
    def question_count(self, category: Category) -> int:
        return cast(int, getattr(category, "question_count", 0))

    @admin.display(description=_("active question count"), ordering="active_question_count")
    def active_question_count(self, category: Category) -> int:
        return cast(int, getattr(category, "active_question_count", 0))


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    form = QuestionForm
    list_display = ["id", "short_text", "category", "language", "is_active", "origin", "created_at"]
    list_filter = ["is_active", "category", "language", "origin", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["text", "external_id", "source"]
    search_help_text = _("Searches the text, the external id and the source.")
    list_editable = ["is_active"]
    list_select_related = ["category"]
    ordering = ["category__code", "id"]
    readonly_fields = ["origin", "created_at"]
    actions = ["activate", "deactivate"]

    @admin.display(description=_("text"), ordering="text")
    def short_text(self, question: Question) -> str:
        return _short(question.text, 60)

    @admin.action(description=_("Activate the selected questions"))
    def activate(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        questions_set_active(question_ids=list(queryset.values_list("id", flat=True)), active=True)

    @admin.action(description=_("Deactivate the selected questions"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        questions_set_active(question_ids=list(queryset.values_list("id", flat=True)), active=False)


class PausedAfterFailuresFilter(admin.SimpleListFilter):
    title = _("health")
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("paused", _("paused after failures")), ("healthy", _("healthy"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contender]) -> QuerySet[Contender]:
        if self.value() == "paused":
            return queryset.filter(paused_until__isnull=False)
        if self.value() == "healthy":
            return queryset.filter(paused_until__isnull=True)
        return queryset


@admin.register(Contender)
class ContenderAdmin(admin.ModelAdmin):
    # The kind and the endpoint's URL are on the contender's page (and filtered or searched): with
    # them the list would not fit a 1280-pixel screen.
    list_display = [
        "name",
        "is_active",
        "is_retired",
        "origin",
        "health",
        "model_id",
        "sampling_weight",
        "concurrency",
        "last_success_at",
    ]
    list_filter = ["is_active", "is_retired", PausedAfterFailuresFilter, "kind", "origin"]
    search_fields = ["name", "model_id", "base_url", "description"]
    search_help_text = _("Searches the name, the model id, the base URL and the description.")
    ordering = ["name"]
    list_editable = ["is_active", "is_retired"]
    actions = ["test_endpoint", "resume"]
    readonly_fields = [
        "origin",
        "server_slots",
        "consecutive_failures",
        "paused_until",
        "paused_at",
        "paused_reason",
        "probes_failed",
        "flaps",
        "restored_at",
        "last_error",
        "last_failure_at",
        "last_success_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "kind",
                    "is_active",
                    "is_retired",
                    "origin",
                    "description",
                    "aliases",
                    "sampling_weight",
                ]
            },
        ),
        (
            _("Endpoint"),
            {
                "fields": [
                    "base_url",
                    "model_id",
                    "api_key_env",
                    "extra_headers",
                    "request_timeout_seconds",
                    "max_concurrent_requests",
                    "server_slots",
                    "stream",
                    "stream_usage",
                ]
            },
        ),
        (
            _("Generation"),
            {
                "fields": [
                    "system_prompt",
                    "temperature",
                    "top_p",
                    "max_tokens",
                    "seed",
                    "stop",
                    "samples_per_question",
                    "extra_parameters",
                ]
            },
        ),
        (
            _("Health"),
            {
                "fields": [
                    "consecutive_failures",
                    "paused_at",
                    "paused_reason",
                    "paused_until",
                    "probes_failed",
                    "flaps",
                    "restored_at",
                    "last_error",
                    "last_failure_at",
                    "last_success_at",
                ]
            },
        ),
    ]

    @admin.display(description=_("health"))
    def health(self, contender: Contender) -> str:
        if contender.paused_until is not None:
            wait = max(0, round((contender.paused_until - timezone.now()).total_seconds()))
            summary = _("paused after %(count)s failures in a row; next probe in %(seconds)s s") % {
                "count": contender.consecutive_failures,
                "seconds": wait,
            }
            # The whole reason (with its last error) on hover, and on the contender's page.
            return format_html(
                '<span title="{}">{}</span>', contender.paused_reason or contender.last_error, summary
            )
        if contender.consecutive_failures:
            return str(_("%(count)s failures in a row") % {"count": contender.consecutive_failures})
        return str(_("healthy"))

    @admin.display(description=_("concurrency"), ordering="max_concurrent_requests")
    def concurrency(self, contender: Contender) -> str:
        if contender.server_slots is None:
            return str(contender.max_concurrent_requests)
        warning = " ⚠" if contender.max_concurrent_requests > contender.server_slots else ""
        return str(
            _("%(limit)s (server: %(slots)s)%(warning)s")
            % {
                "limit": contender.max_concurrent_requests,
                "slots": contender.server_slots,
                "warning": warning,
            }
        )

    def save_model(self, request: HttpRequest, contender: Contender, form: Any, change: bool) -> None:
        # The form (the change page's, or a row of the list's) has set its fields on the contender;
        # the service validates and saves them: the changed ones of a contender, all of a new one.
        names = form.changed_data if change else form.fields
        fields = {name: getattr(contender, name) for name in names if name in CONTENDER_FIELD_NAMES}
        if change:
            contender_update(contender, **cast(ContenderFields, fields))
        else:
            created = contender_create(**cast(NewContender, fields))
            # The admin goes on with the object its form built (to log it and show it): the saved one.
            contender.__dict__.update(created.__dict__)
        if change and not {"base_url", "model_id"} & set(form.changed_data):
            return
        # A new endpoint (or a moved one): what its server runs at once, and for a new contender whose
        # limit was left at the default, that as its limit. Asked once the admin's transaction has
        # committed: no row stays locked while the server answers.
        follow = not change and "max_concurrent_requests" not in form.changed_data
        transaction.on_commit(partial(self._server_slots_read, request, contender, follow=follow))

    def _server_slots_read(self, request: HttpRequest, contender: Contender, *, follow: bool) -> None:
        before = contender.max_concurrent_requests
        contender_server_slots(contender=contender, follow=follow)
        if contender.max_concurrent_requests != before:
            self.message_user(
                request,
                _(
                    "Its server runs %(slots)s requests at once: "
                    "the maximum concurrent requests is set to that."
                )
                % {"slots": contender.server_slots},
                messages.INFO,
            )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        contender = self.get_object(request, object_id)
        if request.method == "GET" and contender is not None:
            warning = concurrency_warning(contender)
            if warning:
                self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Test the endpoint with one short request"))
    def test_endpoint(self, request: HttpRequest, queryset: QuerySet[Contender]) -> None:
        for contender in queryset:
            result = contender_probe(contender=contender)
            contender_server_slots(contender=contender)
            warning = concurrency_warning(contender)
            if warning:
                self.message_user(request, warning, messages.WARNING)
            self.message_user(
                request,
                probe_message(name=contender.name, result=result),
                messages.SUCCESS if result.is_ok else messages.ERROR,
            )

    @admin.action(description=_("Resume the selected contenders now (clear the failure pause)"))
    def resume(self, request: HttpRequest, queryset: QuerySet[Contender]) -> None:
        contenders_resume(contender_ids=list(queryset.values_list("id", flat=True)))


class AnswerAttemptInline(admin.TabularInline):
    model = AnswerAttempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "number",
        "started_at",
        "finished_at",
        "outcome",
        "status_code",
        "latency_ms",
        "seed",
        "retry_in_seconds",
        "error",
    ]
    ordering = ["number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The lists of answers, attempts and votes grow without end: their filters offer fixed choices or small
# tables' rows, never the distinct values of a column (a scan of the whole table on every page).


@admin.register(Answer)
class AnswerAdmin(RecordAdmin):
    """What a model said: shown, never edited (an edit would also leave the rendered HTML stale)."""

    list_display = [
        "id",
        "contender",
        "short_question",
        "status",
        "latency_ms",
        "attempts",
        "created_at",
    ]
    list_filter = [
        "status",
        "is_truncated",
        "contender",
        "question__category",
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["text", "error", "question__text", "contender__name"]
    search_help_text = _("Searches the answer, its error, the question and the contender's name.")
    list_select_related = ["contender", "question"]
    # Newest first, along the primary key (created_at has no index of its own).
    ordering = ["-id"]
    fields = [
        *["question", "contender", "sample_index", "status", "text", "source"],
        *["html", "leaks", "reasoning", "repairs", "error", "parameters", "seed", "attempts"],
        *["is_truncated", "finish_reason"],
        *["latency_ms", "first_token_ms", "prompt_tokens", "completion_tokens"],
        *["server_queue_ms", "server_prompt_ms", "server_generation_ms"],
        *["created_at", "started_at", "finished_at"],
    ]
    inlines = [AnswerAttemptInline]

    @admin.display(description=_("question"), ordering="question__id")
    def short_question(self, answer: Answer) -> str:
        return _short(answer.question.text, 40)


@admin.register(AnswerAttempt)
class AnswerAttemptAdmin(RecordAdmin):
    list_display = [
        *["id", "answer_number", "contender", "number", "outcome", "status_code", "latency_ms"],
        *["started_at", "short_error"],
    ]
    list_filter = ["outcome", "answer__contender", ("started_at", admin.DateFieldListFilter)]
    search_fields = ["error", "answer__contender__name"]
    search_help_text = _("Searches the error and the contender's name.")
    list_select_related = ["answer__contender"]
    ordering = ["-id"]

    @admin.display(description=_("answer"), ordering="answer_id")
    def answer_number(self, attempt: AnswerAttempt) -> str:
        return f"#{attempt.answer_id}"

    @admin.display(description=_("contender"), ordering="answer__contender__name")
    def contender(self, attempt: AnswerAttempt) -> str:
        return attempt.answer.contender.name

    @admin.display(description=_("error"))
    def short_error(self, attempt: AnswerAttempt) -> str:
        return _short(attempt.error, 60)


@admin.register(Battle)
class BattleAdmin(RecordAdmin):
    """Battles are drawn, served and voted by the arena: deleting one is the only change staff make."""

    list_display = [
        *["id", "contender_a", "contender_b", "status", "short_question"],
        *["created_at", "served_at", "voted_at"],
    ]
    list_filter = [
        "status",
        "question__category",
        ("created_at", admin.DateFieldListFilter),
        ("voted_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=id", "contender_a__name", "contender_b__name", "question__text"]
    search_help_text = _("Searches the battle's number, the contenders' names and the question.")
    list_select_related = ["contender_a", "contender_b", "question"]
    ordering = ["-id"]

    @admin.display(description=_("question"), ordering="question__id")
    def short_question(self, battle: Battle) -> str:
        return _short(battle.question.text, 40)


class VotedFilter(admin.SimpleListFilter):
    title = _("has voted")
    parameter_name = "voted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Voter]) -> QuerySet[Voter]:
        if self.value() in ("yes", "no"):
            return voters_who_voted(queryset, voted=self.value() == "yes")
        return queryset


@admin.register(Voter)
class VoterAdmin(RecordAdmin):
    list_display = ["id", "vote_count", "created_at", "last_seen_at"]
    list_filter = [
        VotedFilter,
        ("created_at", admin.DateFieldListFilter),
        ("last_seen_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=id"]
    search_help_text = _("Finds a voter by their full id.")
    ordering = ["-created_at"]
    fields = ["id", "created_at", "last_seen_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Voter]:
        return voters_with_vote_counts(super().get_queryset(request))

    @admin.display(description=_("vote count"), ordering="vote_count")
    def vote_count(self, voter: Voter) -> int:
        return cast(int, getattr(voter, "vote_count", 0))


class CountedFilter(admin.SimpleListFilter):
    title = _("counted on the boards")
    parameter_name = "counted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no, left out"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Vote]) -> QuerySet[Vote]:
        if self.value() == "yes":
            return queryset.filter(excluded_reasons="")
        if self.value() == "no":
            return queryset.exclude(excluded_reasons="")
        return queryset


@admin.register(Vote)
class VoteAdmin(RecordAdmin):
    """A vote is a record: the ratings count votes as they arrive, so it is changed only by deleting it
    (after which `manage.py ratings_rebuild` recounts), never edited in place. Staff may leave votes
    out of the boards and restore them (actions): kept either way, and every board recounted."""

    list_display = [
        *["id", "contender_a", "contender_b", "outcome", "category", "decision_ms", "created_at"],
        *["battle_number", "left_out_because"],
    ]
    actions = ["leave_out", "restore"]
    list_filter = [
        CountedFilter,
        "outcome",
        "category",
        ("created_at", admin.DateFieldListFilter),
        "contender_a",
        "contender_b",
    ]
    search_fields = ["contender_a__name", "contender_b__name", "=voter__id", "=ip_hash", "=external_id"]
    search_help_text = _(
        "Searches the contenders' names, and finds a voter's votes by their full id, an address's by its "
        "IP hash, an imported vote by its external id."
    )
    list_select_related = ["contender_a", "contender_b", "category"]
    # Newest first, along the index of the votes' time order.
    ordering = ["-created_at", "-id"]
    fields = [
        *["battle", "voter", "contender_a", "contender_b", "category", "outcome", "reason"],
        *["created_at", "recorded_at", "decision_ms", "ip_hash", "external_id", "language"],
        *["excluded_reasons", "excluded_at", "restored_at", "signals", "suspicion"],
    ]

    @admin.display(description=_("battle"), ordering="battle_id")
    def battle_number(self, vote: Vote) -> str:
        return "" if vote.battle_id is None else f"#{vote.battle_id}"

    @admin.display(description=_("left out because"))
    def left_out_because(self, vote: Vote) -> str:
        return ", ".join(str(EXCLUSION_REASONS.get(code, code)) for code in codes_of(vote.excluded_reasons))

    @admin.action(description=_("Leave the selected votes out of the boards"))
    def leave_out(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        count = votes_exclude(
            vote_ids=list(queryset.values_list("id", flat=True)), reason="staff", override_restored=True
        )
        self.message_user(
            request,
            _("%(count)s votes left out; the boards are recounted at the next refresh.") % {"count": count},
        )

    @admin.action(description=_("Restore the selected votes to the boards"))
    def restore(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        count = votes_restore(vote_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            _("%(count)s votes restored; the boards are recounted at the next refresh.") % {"count": count},
        )


@admin.register(BrowseVerdict)
class BrowseVerdictAdmin(RecordAdmin):
    """Signed verdicts from browse mode, where the names are shown: opinions kept apart from the votes,
    never counted on a board. Staff read them and delete spam."""

    list_display = ["id", "name", "model_a", "model_b", "outcome", "short_reason", "question", "updated_at"]
    list_filter = ["outcome", ("updated_at", admin.DateFieldListFilter), "question__category"]
    search_fields = ["name", "reason", "answer_a__contender__name", "answer_b__contender__name", "=ip_hash"]
    list_select_related = ["answer_a__contender", "answer_b__contender", "question"]
    ordering = ["-updated_at", "-id"]
    fields = [
        *["question", "answer_a", "answer_b", "outcome", "name", "reason"],
        *["voter", "ip_hash", "created_at", "updated_at"],
    ]

    @admin.display(description=_("model A"), ordering="answer_a__contender__name")
    def model_a(self, verdict: BrowseVerdict) -> str:
        return verdict.answer_a.contender.name

    @admin.display(description=_("model B"), ordering="answer_b__contender__name")
    def model_b(self, verdict: BrowseVerdict) -> str:
        return verdict.answer_b.contender.name

    @admin.display(description=_("reason"))
    def short_reason(self, verdict: BrowseVerdict) -> str:
        return _short(verdict.reason, 60)
