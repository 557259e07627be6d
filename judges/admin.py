from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from arena.admin_site import RecordAdmin
from battles.models import Contender
from judges.models import Judge, JudgeDay, JudgePrompt, Verdict
from judges.prompts import template_problems
from judges.services.judges import judge_prompt_create, judge_save, judges_set_active


class JudgeForm(forms.ModelForm):
    class Meta:
        model = Judge
        fields = ["contender", "is_active", "judges_voted", "ready_share", "daily_call_budget"]

    def clean_contender(self) -> Contender:
        contender: Contender = self.cleaned_data["contender"]
        if contender.kind != Contender.Kind.ENDPOINT:
            raise ValidationError(
                _("%(name)s has no endpoint to call: only endpoint contenders can judge.")
                % {"name": contender.name}
            )
        return contender


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = [
        "contender",
        "is_active",
        "judges_voted",
        "ready_share",
        "daily_call_budget",
        "calls_today",
    ]
    list_filter = ["is_active"]
    form = JudgeForm
    autocomplete_fields = ["contender"]
    readonly_fields = ["scheduled_through_vote_id", "created_at"]
    actions = ["pause", "resume"]

    @admin.display(description=_("calls today"))
    def calls_today(self, judge: Judge) -> int:
        day = JudgeDay.objects.filter(judge=judge, day=timezone.now().date()).values_list("calls", flat=True)
        return day.first() or 0

    def save_model(self, request: HttpRequest, obj: Judge, form: Any, change: bool) -> None:
        saved, _created = judge_save(
            contender=obj.contender,
            is_active=obj.is_active,
            judges_voted=obj.judges_voted,
            ready_share=obj.ready_share,
            daily_call_budget=obj.daily_call_budget,
        )
        obj.pk = saved.pk

    @admin.action(description=_("Pause the selected judges"))
    def pause(self, request: HttpRequest, queryset: QuerySet[Judge]) -> None:
        count = judges_set_active(judge_ids=list(queryset.values_list("pk", flat=True)), is_active=False)
        self.message_user(request, _("%(count)s judge(s) paused.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Resume the selected judges"))
    def resume(self, request: HttpRequest, queryset: QuerySet[Judge]) -> None:
        count = judges_set_active(judge_ids=list(queryset.values_list("pk", flat=True)), is_active=True)
        self.message_user(request, _("%(count)s judge(s) resumed.") % {"count": count}, messages.SUCCESS)


class JudgePromptForm(forms.ModelForm):
    class Meta:
        model = JudgePrompt
        fields = ["language", "system_text", "template", "note"]
        widgets = {
            "system_text": forms.Textarea(attrs={"rows": 4, "cols": 100}),
            "template": forms.Textarea(attrs={"rows": 24, "cols": 100}),
        }

    def clean_template(self) -> str:
        template: str = self.cleaned_data["template"]
        problems = template_problems(template)
        if problems:
            raise ValidationError(
                _("The prompt must hold each of %(names)s exactly once.") % {"names": ", ".join(problems)}
            )
        return template


@admin.register(JudgePrompt)
class JudgePromptAdmin(admin.ModelAdmin):
    """Prompts are versioned: a saved version is never changed. "Add" starts from the newest version of
    the language (or from the version given as ?from=ID) and saves a new one."""

    list_display = ["__str__", "language", "version", "note", "created_at", "created_by"]
    list_filter = ["language"]
    fields = ["language", "system_text", "template", "note"]
    form = JudgePromptForm

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        source = request.GET.get("from", "")
        language = request.GET.get("language", JudgePrompt.Language.ZH_HANS)
        prompt = (
            JudgePrompt.objects.filter(pk=int(source)).first()
            if source.isdigit()
            else JudgePrompt.objects.filter(language=language).order_by("-version").first()
        )
        if prompt is None:
            return {"language": language}
        return {"language": prompt.language, "system_text": prompt.system_text, "template": prompt.template}

    def save_model(self, request: HttpRequest, obj: JudgePrompt, form: Any, change: bool) -> None:
        saved = judge_prompt_create(
            language=obj.language,
            template=obj.template,
            system_text=obj.system_text,
            note=obj.note,
            created_by=request.user.get_username(),
        )
        obj.pk, obj.version = saved.pk, saved.version


@admin.register(Verdict)
class VerdictAdmin(RecordAdmin):
    list_display = [
        "id",
        "judge",
        "battle_number",
        "order",
        "status",
        "label",
        "score",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["status", "order", "judge"]
    ordering = ["-id"]  # the newest first
    search_fields = ["=battle__id"]
    list_select_related = ["judge__contender"]
    readonly_fields = [field.name for field in Verdict._meta.fields]

    @admin.display(description=_("battle"), ordering="battle_id")
    def battle_number(self, verdict: Verdict) -> int:
        return verdict.battle_id

    @admin.display(description=_("reply"))
    def short_reply(self, verdict: Verdict) -> str:
        return Truncator(" ".join(verdict.reply.split())).chars(80)
