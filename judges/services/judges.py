"""Writes to judges and judge prompts: whoever asks (the admin, a command, the demo loader) goes
through these."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from battles.models import Contender
from judges.models import Judge, JudgePrompt, Verdict
from judges.prompts import template_problems


def judge_save(
    *,
    contender: Contender,
    is_active: bool = True,
    judges_voted: bool = True,
    ready_share: float = 0.0,
    daily_call_budget: int = 2000,
) -> tuple[Judge, bool]:
    """Make an endpoint contender a judge, or change its settings; (judge, created)."""
    if contender.kind != Contender.Kind.ENDPOINT:
        raise ValidationError(
            _("%(name)s has no endpoint to call: only endpoint contenders can judge.")
            % {"name": contender.name}
        )
    if not 0.0 <= ready_share <= 1.0:
        raise ValidationError(_("The share of ready battles must be between 0 and 1."))
    judge, created = Judge.objects.update_or_create(
        contender=contender,
        defaults={
            "is_active": is_active,
            "judges_voted": judges_voted,
            "ready_share": ready_share,
            "daily_call_budget": daily_call_budget,
        },
    )
    if is_active:
        _waiting_requeue(judge)
    return judge, created


def judges_set_active(*, judge_ids: list[int], is_active: bool) -> int:
    """Pause or resume judges. A resumed judge's waiting verdicts are queued at the next schedule pass."""
    changed = Judge.objects.filter(pk__in=judge_ids).exclude(is_active=is_active).update(is_active=is_active)
    if is_active:
        for judge in Judge.objects.filter(pk__in=judge_ids):
            _waiting_requeue(judge)
    return changed


def _waiting_requeue(judge: Judge) -> None:
    # Due now: the schedule pass queues them (verdicts_requeue).
    Verdict.objects.filter(judge=judge, status=Verdict.Status.PENDING, retry_at__gt=timezone.now()).update(
        retry_at=None
    )


def judge_prompt_create(
    *, language: str, template: str, system_text: str = "", note: str = "", created_by: str = ""
) -> JudgePrompt:
    """A new version of a language's judge prompt; it is used from the next verdict on."""
    problems = template_problems(template)
    if problems:
        raise ValidationError(
            {
                "template": _("The prompt must hold each of %(names)s exactly once.")
                % {"names": ", ".join(problems)}
            }
        )
    if language not in JudgePrompt.Language.values:
        raise ValidationError(
            {"language": _("There is no judge prompt language %(language)r.") % {"language": language}}
        )
    for _attempt in range(5):
        latest = JudgePrompt.objects.filter(language=language).aggregate(latest=Max("version"))["latest"]
        try:
            with transaction.atomic():
                return JudgePrompt.objects.create(
                    language=language,
                    version=(latest or 0) + 1,
                    system_text=system_text,
                    template=template,
                    note=note,
                    created_by=created_by,
                )
        except IntegrityError:  # another version was saved meanwhile: take the next number
            continue
    raise ValidationError(_("The prompt could not be saved: too many versions saved at once; try again."))
