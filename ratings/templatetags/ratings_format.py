from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.6234 → "62.3%"; None → "—"."""
    if value is None:
        return "—"
    return f"{number_format(value * 100, decimal_pos=digits)}%"
