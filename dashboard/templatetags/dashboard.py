from django import template
from django.utils.translation import gettext as _

from battles.models import Answer, Battle

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


@register.filter
def seconds(milliseconds: float | None) -> str:
    """A duration in milliseconds, in seconds to one decimal."""
    return "—" if milliseconds is None else _("%(seconds).1f s") % {"seconds": milliseconds / 1000}


@register.filter
def battle_state(state: str) -> str:
    return str(Battle.Status(state).label)


@register.filter
def answer_state(state: str) -> str:
    return str(Answer.Status(state).label)
