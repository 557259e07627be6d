from typing import Any

from django.db import transaction
from django.utils import timezone

from battles.models import Contender
from battles.services.health import PAUSE_CLEARED


def contender_save(*, name: str, **fields: Any) -> tuple[Contender, bool]:
    """Create a contender or update the one with this name; invalid settings raise ValidationError."""
    with transaction.atomic():
        contender = Contender.objects.select_for_update().filter(name=name).first()
        created = contender is None
        if contender is None:
            contender = Contender(name=name)
        for field_name, value in fields.items():
            setattr(contender, field_name, value)
        contender.full_clean()
        contender.save()
    return contender, created


def contenders_resume(*, contender_ids: list[int]) -> int:
    """Staff bring contenders back into battles now: active, and any pause after failures cleared
    (with its streak and its flap history, since staff looked at it). A probe under way when staff
    resume finds its claim gone and saves nothing."""
    return Contender.objects.filter(pk__in=contender_ids).update(
        **PAUSE_CLEARED, is_active=True, flaps=0, restored_at=None, updated_at=timezone.now()
    )
