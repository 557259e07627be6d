from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.6234 → "62.3%"; None → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"
