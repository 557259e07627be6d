from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.6234 → "62.3%"; None → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


@register.filter
def signed_or_dash(value: float | None, digits: int = 2) -> str:
    """0.6234 → "0.62", -0.1 → "−0.10"; None → "—"."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    return text.replace("-", "−")
