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
    """0.6234 → "0.62", -0.1 → "−0.10", -0.001 → "0.00" (no sign on a zero); None → "—"."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")
