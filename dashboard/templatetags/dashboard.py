from dataclasses import dataclass
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from battles.models import Answer, Battle
from dashboard.alerts import moment_shown

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
    "proof_missing": gettext_lazy("proof of work missing or wrong"),
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
    of the first, middle and last points below. `label_format` is strftime's (digits only, the same
    in every language)."""
    width, height, bottom = 720, 150, 18
    top = max((value for _, value in points), default=0) or 1
    step = width / max(1, len(points))
    bars = []
    for index, (moment, value) in enumerate(points):
        bar_height = (height - bottom - 14) * value / top
        # Numbers and digits only (int() refuses anything else): nothing to escape.
        bars.append(
            f'<rect x="{index * step + 1:.1f}" y="{height - bottom - bar_height:.1f}" '
            f'width="{max(1.0, step - 2):.1f}" height="{bar_height:.1f}">'
            f"<title>{moment.strftime(label_format)}: {int(value)}</title></rect>"
        )
    labels = [
        format_html(
            '<text x="{}" y="{}" text-anchor="{}">{}</text>',
            f"{index * step + (step / 2 if anchor == 'middle' else 0 if anchor == 'start' else step):.1f}",
            height - 4,
            anchor,
            points[index][0].strftime(label_format),
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
        mark_safe("".join(bars)),  # noqa: S308 - numbers and digits only
        mark_safe("".join(labels)),  # noqa: S308
    )


@register.filter
def absolute(value: int) -> int:
    return abs(value)


@register.simple_tag
def pair_matrix(names: list[str], matrix: list[list[int | None]], few: int) -> str:
    """The table of votes per pair (a pair with fewer than `few` votes marked), written in one pass:
    its 900 cells through the template engine cost more than the rest of the dashboard."""
    head = format_html_join("", '<th scope="col"><span>{}</span></th>', ((_short(name),) for name in names))
    rows = []
    for name, row in zip(names, matrix, strict=True):
        # Integers only (int() refuses anything else), so the cells need no escaping.
        cells = "".join(
            '<td class="self"></td>'
            if votes is None
            else f'<td class="{"few" if votes < few else ""}" title="{int(votes)}">{int(votes)}</td>'
            for votes in row
        )
        rows.append(format_html('<tr><th scope="row">{}</th>{}</tr>', _short(name), mark_safe(cells)))  # noqa: S308
    return format_html(
        '<table class="pair-matrix" aria-label="{}"><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody>'
        "</table>",
        _("Votes per pair"),
        head,
        mark_safe("".join(rows)),  # noqa: S308 - each row built by format_html
    )


def _short(name: str, length: int = 18) -> str:
    """As the truncatechars filter: at most `length` characters, the last an ellipsis."""
    return name if len(name) <= length else name[: length - 1] + "…"


@register.simple_tag(takes_context=True)
def contender_row(context: template.Context, contender: Any) -> str:
    """One contender's row of the dashboard's table (its cells in the order of the table's head).
    Written in one pass: the 130 rows of a large arena through the template engine took a quarter
    of the page's time."""
    urls, token = _row_form(context)
    if contender.state == "paused":
        until = moment_shown(contender.paused_until)
        badge = format_html(
            '<span class="badge badge-paused">{}</span>', _("paused until %(until)s") % {"until": until}
        )
    elif contender.state == "inactive":
        badge = format_html('<span class="badge badge-inactive">{}</span>', _("inactive"))
    else:
        badge = format_html('<span class="badge badge-active">{}</span>', _("active"))
    error: str = "—"
    if contender.last_error:
        error = format_html(
            '<a href="{}?answer__contender__id__exact={}" title="{}">{} · {}</a>',
            urls.attempts,
            contender.id,
            contender.last_error,
            moment_shown(contender.last_failure_at) if contender.last_failure_at else "",
            _short(contender.last_error, 60),
        )
    tokens = contender.tokens_per_second
    cells = [
        badge,
        f"{contender.done_hour} / {contender.failed_hour}",
        f"{contender.done_day} / {contender.failed_day}",
        percent(contender.success_rate),
        f"{seconds(contender.latency_p50_ms)} / {seconds(contender.latency_p95_ms)}",
        f"{seconds(contender.first_token_p50_ms)} / {seconds(contender.first_token_p95_ms)}",
        "—" if tokens is None else f"{tokens:.0f}",
        str(contender.consecutive_failures),
        f"{contender.running} / {contender.max_concurrent_requests}" if contender.is_endpoint else "—",
        error,
    ]
    classes = ["", *["number"] * 8, "error-cell"]
    if contender.state == "paused" or not contender.is_active:
        actions = [("resume", _("Resume"))]
    else:
        actions = [("pause", _("Pause"))]
    if contender.is_endpoint:
        actions.append(("test", _("Test")))
    buttons = format_html_join(
        "",
        '<form method="post" action="{}"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<button type="submit" class="row-button" data-action="{}">{}</button></form>',
        ((urls.action.format(contender.id, action), token, action, label) for action, label in actions),
    )
    return format_html(
        '<tr data-contender="{}" class="state-{}"><th scope="row"><a href="{}">{}</a></th>{}'
        '<td class="row-actions">{}</td></tr>',
        contender.name,
        contender.state,
        urls.change.format(contender.id),
        contender.name,
        format_html_join(
            "",
            "<td{}>{}</td>",
            (
                (format_html(' class="{}"', kind) if kind else "", cell)
                for kind, cell in zip(classes, cells, strict=True)
            ),
        ),
        buttons,
    )


@dataclass(frozen=True)
class _RowUrls:
    action: str  # {} for the contender's id, {} for the action
    change: str  # {} for the contender's id
    attempts: str


def _url_format(name: str, *args: object) -> str:
    """A route's URL with {} for each argument, from one reverse: the sample arguments are swapped
    for {} in its path (they must not stand anywhere else in it)."""
    url = reverse(name, args=args)
    for arg in args:
        url = url.replace(f"/{arg}/", "/{}/", 1)
    return url


def _row_form(context: template.Context) -> tuple[_RowUrls, str]:
    """The rows' URLs and the CSRF token, once per page: reversing the routes for each of 130 rows
    took a third of the page's time."""
    if "contender_row" not in context.render_context:
        urls = _RowUrls(
            action=_url_format("dashboard-contender-action", 987654321, "action"),
            change=_url_format("admin:battles_contender_change", 987654321),
            attempts=reverse("admin:battles_answerattempt_changelist"),
        )
        context.render_context["contender_row"] = (urls, get_token(context["request"]))
    return context.render_context["contender_row"]


@register.filter
def seconds_from_ms(value: int | None) -> str:
    """A time in milliseconds as seconds with one decimal ("0.8 s"); "—" when unknown."""
    return "—" if value is None else f"{value / 1000:.1f} s"


@register.filter
def codes(value: str) -> str:
    """Comma-separated codes, readable: "fast, fast_voter"."""
    return ", ".join(code for code in value.split(",") if code)
