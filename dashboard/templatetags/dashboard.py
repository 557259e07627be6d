from typing import Any

from django import template
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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


REJECTION_LABELS = {
    "invalid_outcome": gettext_lazy("unknown verdict"),
    "unknown_voter": gettext_lazy("unknown voter"),
    "not_served_to_voter": gettext_lazy("battle not served to the voter"),
    "not_open": gettext_lazy("battle no longer open"),
    "too_early": gettext_lazy("too early: answers not read"),
    "voter_rate": gettext_lazy("over the voter's limit per minute"),
    "ip_rate": gettext_lazy("over the address's limit per minute"),
    "daily_cap": gettext_lazy("over the daily limit"),
}


@register.filter
def rejection_reason(code: str) -> str:
    return str(REJECTION_LABELS.get(code, code))


@register.filter
def decision_bucket(name: str) -> str:
    """ "3-10" → "3–10 s", "600+" → "over 600 s"."""
    if name.endswith("+"):
        return _("over %(seconds)s s") % {"seconds": name[:-1]}
    low, high = name.split("-")
    return _("%(low)s–%(high)s s") % {"low": low, "high": high}


@register.filter
def voter_bucket(name: str) -> str:
    if name.endswith("+"):
        return _("%(votes)s or more") % {"votes": name[:-1]}
    return name.replace("-", "–")


@register.simple_tag
def bar_chart(points: list[tuple[Any, int]], label_format: str, title: str) -> str:
    """An SVG bar chart of (moment, value) points, each bar with its value as a tooltip; the labels
    of the first, middle and last points below."""
    width, height, bottom = 720, 150, 18
    top = max((value for _, value in points), default=0) or 1
    step = width / max(1, len(points))
    bars = []
    for index, (moment, value) in enumerate(points):
        bar_height = (height - bottom - 14) * value / top
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
                f"{index * step + 1:.1f}",
                f"{height - bottom - bar_height:.1f}",
                f"{max(1.0, step - 2):.1f}",
                f"{bar_height:.1f}",
                date_format(moment, label_format),
                value,
            )
        )
    labels = [
        format_html(
            '<text x="{}" y="{}" text-anchor="{}">{}</text>',
            f"{index * step + (step / 2 if anchor == 'middle' else 0 if anchor == 'start' else step):.1f}",
            height - 4,
            anchor,
            date_format(points[index][0], label_format),
        )
        for index, anchor in ((0, "start"), (len(points) // 2, "middle"), (len(points) - 1, "end"))
        if points
    ]
    return format_html(
        '<svg class="bar-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">'
        '<text class="chart-top" x="0" y="10">{}</text><g class="bars">{}</g><g class="labels">{}</g></svg>',
        width,
        height,
        title,
        top,
        mark_safe("".join(bars)),  # noqa: S308 - each part built by format_html
        mark_safe("".join(labels)),  # noqa: S308
    )


@register.filter
def index(values: list[Any], position: int) -> Any:
    return values[position]


@register.filter
def absolute(value: int) -> int:
    return abs(value)
