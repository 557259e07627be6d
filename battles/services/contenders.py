from typing import Any

from django.db import transaction

from battles.models import Contender


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
