"""The leaderboard's plots as inline SVG: plain data in, markup out, no JavaScript and no asset to load.

Each plot is an `<svg role="img">` named by its `<title>` and `<desc>`, drawn at its natural size in
user units (the page lets it shrink to a phone's width). Every text and attribute value is escaped
here, so the result is marked safe. Text reaches 4.5:1 against its background, marks 3:1.
"""

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

INK = "#1d2330"
MUTED = "#5a6272"
GRID = "#d9dde3"
BAND = "#f3f5f8"
ACCENT = "#1f5fbf"
PAPER = "#ffffff"
DIAGONAL = "#e3e6eb"
# Told apart by colour and, for the second four, by dashes; each colour at least 4.5:1 on white.
SERIES_STYLES = [
    ("#1f5fbf", ""),
    ("#b35900", ""),
    ("#00798c", ""),
    ("#c2185b", ""),
    ("#6a3d9a", "7 4"),
    ("#2e7d32", "7 4"),
    ("#c0392b", "2 3"),
    ("#4e5a6b", "2 3"),
]
# ColorBrewer's RdBu (safe for colour-blind readers): blue where the row won more, red where it lost.
DIVERGING = ["#b2182b", "#ef8a62", "#f7f7f7", "#67a9cf", "#2166ac"]
SEQUENTIAL = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]


@dataclass(frozen=True)
class RatingBar:
    name: str
    rating: float
    low: float
    high: float
    preliminary: bool


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[datetime, float]]


# --- Markup ------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A coordinate, short: 12.0 → "12", 12.25 → "12.2"."""
    return f"{value:.1f}".removesuffix(".0")


def _element(name: str, attributes: dict[str, object], content: str | None = None) -> str:
    """`<name a="…"/>`; attribute names with "_" get "-", numbers are shortened, values escaped."""
    rendered = "".join(
        f' {key.rstrip("_").replace("_", "-")}="'
        f'{_number(value) if isinstance(value, float | int) else escape(str(value))}"'
        for key, value in attributes.items()
    )
    return f"<{name}{rendered}/>" if content is None else f"<{name}{rendered}>{content}</{name}>"


def _text(text: str, **attributes: object) -> str:
    return _element("text", attributes, escape(text))


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attributes: object) -> str:
    return _element("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, **attributes})


def text_width(text: str, size: float) -> float:
    """Roughly how wide `text` is in a sans-serif font of `size`: CJK characters take a full em."""
    return size * sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.6 for char in text)


def fit(text: str, width: float, size: float) -> str:
    """`text`, shortened with an ellipsis if it would be wider than `width`."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _label(text: str, width: float, size: float, **attributes: object) -> str:
    """A text that fits `width`; a shortened one keeps the whole text as its tooltip."""
    shown = fit(text, width, size)
    tooltip = f"<title>{escape(text)}</title>" if shown != text else ""
    return _element("text", {**attributes, "font_size": size}, tooltip + escape(shown))


def _svg(
    width: float, height: float, *, id_prefix: str, title: str, description: str, body: list[str]
) -> SafeString:
    prefix = escape(id_prefix)
    opening = _element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {_number(width)} {_number(height)}",
            "width": width,
            "height": height,
            "role": "img",
            "class": "plot-svg",
            "aria_labelledby": f"{id_prefix}-title {id_prefix}-desc",
            "font_size": 12,
            "fill": INK,
        },
        "",
    ).removesuffix("</svg>")
    return mark_safe(  # noqa: S308 -- every text and attribute value went through escape()
        f'{opening}<title id="{prefix}-title">{escape(title)}</title>'
        f'<desc id="{prefix}-desc">{escape(description)}</desc>{"".join(body)}</svg>'
    )


# --- Scales ------------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values from low to high, at most about `count`, 1, 2 or 5 times a power of ten apart."""
    if not high > low:
        return [low]
    magnitude = 10 ** math.floor(math.log10((high - low) / count))
    step = next(
        factor * magnitude for factor in (1, 2, 5, 10) if (high - low) / (factor * magnitude) <= count
    )
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [tick * step for tick in range(first, last + 1)]


def colour_between(stops: Sequence[str], fraction: float) -> str:
    """The colour at `fraction` (0 to 1) along evenly spaced `stops`, mixed in sRGB."""
    position = min(1.0, max(0.0, fraction)) * (len(stops) - 1)
    index = min(len(stops) - 2, int(position))
    weight = position - index
    start, end = stops[index], stops[index + 1]
    return "#" + "".join(
        f"{round(int(start[at : at + 2], 16) * (1 - weight) + int(end[at : at + 2], 16) * weight):02x}"
        for at in (1, 3, 5)
    )


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[at : at + 2], 16)) for at in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two "#rrggbb" colours, 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: str) -> str:
    return INK if contrast(INK, background) >= contrast(PAPER, background) else PAPER


# --- Ratings with their intervals ------------------------------------------------------------------


def ratings_svg(bars: Sequence[RatingBar], *, id_prefix: str = "plot-ratings") -> SafeString:
    """One row per contender, in the order given: a dot at the rating, a bar over its 95% interval.

    An interval reaching far beyond the ratings (a contender that never lost, say) is cut at the edge
    and ends in an arrow, so that it does not squeeze everyone else into a corner.
    """
    font, row, top, width, value_width = 13, 22, 6, 440, 40
    label_width = min(170.0, max(60.0, *(text_width(bar.name, font) + 4 for bar in bars)))
    left, right = label_width + 14, width - value_width - 12
    ratings = [bar.rating for bar in bars]
    pad = max(50.0, (max(ratings) - min(ratings)) * 0.5)
    low = min(min(ratings), max(min(bar.low for bar in bars), min(ratings) - pad))
    high = max(max(ratings), min(max(bar.high for bar in bars), max(ratings) + pad))
    if high - low < 20:
        low, high = low - 10, high + 10

    def x(value: float) -> float:
        return left + (min(high, max(low, value)) - low) / (high - low) * (right - left)

    bottom = top + len(bars) * row
    body = [
        _element("rect", {"x": 0, "y": top + index * row, "width": width, "height": row, "fill": BAND})
        for index in range(1, len(bars), 2)
    ]
    for tick in nice_ticks(low, high):
        body.append(_line(x(tick), top, x(tick), bottom, GRID))
        body.append(
            _text(f"{tick:.0f}", x=x(tick), y=bottom + 15, text_anchor="middle", font_size=11, fill=MUTED)
        )
    for index, bar in enumerate(bars):
        middle = top + index * row + row / 2
        body.append(_label(bar.name, label_width, font, x=label_width + 6, y=middle + 4.5, text_anchor="end"))
        start, end = x(bar.low), x(bar.high)
        body.append(_line(start, middle, end, middle, ACCENT, stroke_width=2))
        for edge, clipped, direction in ((start, bar.low < low, -1), (end, bar.high > high, 1)):
            if clipped:
                tip = edge + direction * 6
                path = f"M{_number(edge)} {_number(middle - 4)}L{_number(tip)} {_number(middle)}"
                body.append(
                    _element("path", {"d": f"{path}L{_number(edge)} {_number(middle + 4)}Z", "fill": ACCENT})
                )
            else:
                body.append(_line(edge, middle - 4, edge, middle + 4, ACCENT, stroke_width=2))
        fill = PAPER if bar.preliminary else ACCENT
        dot = {"cx": x(bar.rating), "cy": middle, "r": 4.5, "fill": fill, "stroke": ACCENT, "stroke_width": 2}
        body.append(_element("circle", dot))
        body.append(
            _text(f"{bar.rating:.0f}", x=width - 4, y=middle + 4.5, text_anchor="end", font_size=font)
        )
    legend = bottom + 38
    height = legend + 8
    if any(bar.low < low or bar.high > high for bar in bars):
        # Said in words, on a line of its own (it fits a phone): an arrow is an interval that goes on
        # beyond the axis.
        line, start = legend + 20, left
        arrow = f"M{_number(start + 10)} {_number(line - 8)}L{_number(start + 16)} {_number(line - 4)}"
        body.append(_line(start, line - 4, start + 10, line - 4, ACCENT, stroke_width=2))
        body.append(
            _element("path", {"d": f"{arrow}L{_number(start + 10)} {_number(line)}Z", "fill": ACCENT})
        )
        body.append(_text(_("interval goes on beyond the axis"), x=start + 22, y=line))
        height = line + 8
    for offset, fill, label in ((0, ACCENT, _("rating")), (110, PAPER, _("preliminary"))):
        dot = {
            "cx": left + offset + 5,
            "cy": legend - 4,
            "r": 4.5,
            "fill": fill,
            "stroke": ACCENT,
            "stroke_width": 2,
        }
        body.append(_element("circle", dot))
        body.append(_text(label, x=left + offset + 16, y=legend))
    description = _(
        "One row per model, best first. The dot is the Bradley–Terry rating and the bar its 95 percent "
        "interval; a hollow dot marks a preliminary rating."
    )
    return _svg(
        width,
        height,
        id_prefix=id_prefix,
        title=_("Ratings and their intervals"),
        description=description,
        body=body,
    )


# --- Heatmaps ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    fill: str
    text: str
    empty: bool = False


def _heatmap(
    names: Sequence[str],
    cell_at: Callable[[int, int], _Cell | None],
    *,
    id_prefix: str,
    title: str,
    description: str,
    legend: Callable[[float, float], list[str]],
) -> SafeString:
    """Rows and columns in the order of `names`; `cell_at(row, column)` is None on the diagonal."""
    cell, label_font = 30, 12
    longest = max(text_width(name, label_font) for name in names)
    row_label_width, column_label_width = min(130.0, longest + 4), min(110.0, longest + 4)
    rise = column_label_width * math.sqrt(0.5)  # column labels slant up at 45°
    left, top = row_label_width + 8, rise + 12
    width = max(left + len(names) * cell + max(8.0, rise - cell / 2 + 4), 8 + 310)
    pattern = f"{id_prefix}-empty"
    body = [
        f'<defs><pattern id="{escape(pattern)}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{PAPER}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#c3c8d0" stroke-width="2"/></pattern></defs>'
    ]
    for index, name in enumerate(names):
        middle = left + index * cell + cell / 2
        body.append(
            _label(
                name,
                row_label_width,
                label_font,
                x=left - 6,
                y=top + index * cell + cell / 2 + 4,
                text_anchor="end",
            )
        )
        rotate = f"rotate(-45 {_number(middle)} {_number(top - 6)})"
        body.append(_label(name, column_label_width, label_font, x=middle, y=top - 6, transform=rotate))
    body.append('<g font-size="11" text-anchor="middle">')
    for row in range(len(names)):
        for column in range(len(names)):
            x, y = left + column * cell, top + row * cell
            content = cell_at(row, column)
            box = {"x": x, "y": y, "width": cell - 1, "height": cell - 1}
            if content is None:
                body.append(_element("rect", {**box, "fill": DIAGONAL}))
                continue
            body.append(
                _element("rect", {**box, "fill": f"url(#{pattern})" if content.empty else content.fill})
            )
            colour = MUTED if content.empty else text_colour_on(content.fill)
            place: dict[str, object] = {"x": x + cell / 2 - 0.5, "y": y + cell / 2 + 3.5}
            body.append(_text(content.text, **place, **({} if colour == INK else {"fill": colour})))
    body.append("</g>")
    legend_top = top + len(names) * cell + 14
    # The legend starts at the left edge, under the row names: on a phone, whose screen shows the
    # start of a wide map, it is read whole without scrolling sideways.
    body.extend(legend(8, legend_top))
    return _svg(width, legend_top + 36, id_prefix=id_prefix, title=title, description=description, body=body)


def _scale_legend(
    id_: str, stops: Sequence[str], left: float, top: float, labels: list[tuple[float, str]]
) -> list[str]:
    offsets = "".join(
        f'<stop offset="{index / (len(stops) - 1):.2f}" stop-color="{colour}"/>'
        for index, colour in enumerate(stops)
    )
    return [
        f'<defs><linearGradient id="{escape(id_)}">{offsets}</linearGradient></defs>',
        _element(
            "rect", {"x": left, "y": top, "width": 120, "height": 10, "fill": f"url(#{id_})", "stroke": GRID}
        ),
        *(
            _text(label, x=left + offset, y=top + 24, text_anchor="middle", font_size=11, fill=MUTED)
            for offset, label in labels
        ),
    ]


def win_rate_heatmap_svg(
    names: Sequence[str], win_rates: Sequence[Sequence[float | None]], *, id_prefix: str = "plot-win-rates"
) -> SafeString:
    """The observed share of decisive battles the row won against the column, in percent."""

    def cell_at(row: int, column: int) -> _Cell | None:
        if row == column:
            return None
        value = win_rates[row][column]
        if value is None:
            return _Cell(fill=PAPER, text="–", empty=True)
        return _Cell(fill=colour_between(DIVERGING, value), text=f"{value * 100:.0f}")

    def legend(left: float, top: float) -> list[str]:
        sample = {"x": left + 150, "y": top - 4, "width": 18, "height": 18, "stroke": GRID}
        return [
            *_scale_legend(
                f"{id_prefix}-scale", DIVERGING, left, top, [(0, "0%"), (60, "50%"), (120, "100%")]
            ),
            _element("rect", {**sample, "fill": f"url(#{id_prefix}-empty)"}),
            _label(_("no decisive battle"), 130, 11, x=left + 174, y=top + 9, fill=MUTED),
        ]

    description = _(
        "Share of the decisive battles (ties excluded) that the row's model won against the column's model, "
        "in percent: blue where the row won more often, red where the column did. A hatched cell with a "
        "dash: the pair had no decisive battle."
    )
    return _heatmap(
        names,
        cell_at,
        id_prefix=id_prefix,
        title=_("Win rates between models"),
        description=description,
        legend=legend,
    )


def compact_count(value: int) -> str:
    """Fits a heatmap cell: 999 → "999", 1234 → "1.2k", 56789 → "57k", 1234567 → "1.2M"."""
    for size, suffix in ((1_000_000, "M"), (1000, "k")):
        if value >= size:
            scaled = value / size
            return f"{scaled:.1f}".removesuffix(".0") + suffix if scaled < 9.95 else f"{scaled:.0f}{suffix}"
    return str(value)


def battle_count_heatmap_svg(
    names: Sequence[str], counts: Sequence[Sequence[int]], *, id_prefix: str = "plot-battle-counts"
) -> SafeString:
    """Votes between each pair, whatever the verdict (a symmetric matrix)."""
    most = max((value for row in counts for value in row), default=0)

    def cell_at(row: int, column: int) -> _Cell | None:
        if row == column:
            return None
        value = counts[row][column]
        shade = math.sqrt(value / most) if most else 0.0  # a square root keeps small counts visible
        return _Cell(fill=colour_between(SEQUENTIAL, shade), text=compact_count(value))

    def legend(left: float, top: float) -> list[str]:
        return _scale_legend(f"{id_prefix}-scale", SEQUENTIAL, left, top, [(0, "0"), (120, str(most))])

    description = _(
        "Number of votes between each pair of models, whatever the verdict; the darker, the more. "
        "Thousands are shortened (1.2k)."
    )
    return _heatmap(
        names,
        cell_at,
        id_prefix=id_prefix,
        title=_("Battles between models"),
        description=description,
        legend=legend,
    )


# --- Ratings over time -------------------------------------------------------------------------------

_TIME_STEPS = [
    timedelta(minutes=minutes)
    for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 40320)
]


def time_ticks(start: datetime, end: datetime, count: int = 5) -> tuple[list[datetime], str]:
    """Round UTC times from start to end, at most about `count`, and the strftime format to label them."""
    step = next((step for step in _TIME_STEPS if (end - start) / step <= count), _TIME_STEPS[-1])
    epoch = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: week-long steps fall on Mondays
    tick = epoch + step * math.ceil((start - epoch) / step)
    ticks = []
    while tick <= end:
        ticks.append(tick)
        tick += step
    return ticks, "%m-%d" if step >= timedelta(days=1) else "%H:%M"


def history_svg(series: Sequence[Series], *, id_prefix: str = "plot-history") -> SafeString:
    """One line per contender over time (UTC), in the order given; at most eight are told apart."""
    width, left, right, top, plot_height = 440, 46, 428, 10, 200
    points = [point for one in series for point in one.points]
    start, end = min(time for time, _ in points), max(time for time, _ in points)
    if start == end:
        start, end = start - timedelta(hours=1), end + timedelta(hours=1)
    low, high = min(value for _, value in points), max(value for _, value in points)
    margin = max(10.0, (high - low) * 0.08)
    low, high, bottom = low - margin, high + margin, top + plot_height

    def x(time: datetime) -> float:
        return left + (time - start) / (end - start) * (right - left)

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * plot_height

    body = []
    for tick in nice_ticks(low, high):
        body.append(_line(left, y(tick), right, y(tick), GRID))
        body.append(
            _text(f"{tick:.0f}", x=left - 6, y=y(tick) + 4, text_anchor="end", font_size=11, fill=MUTED)
        )
    ticks, time_format = time_ticks(start, end)
    for time in ticks:
        body.append(_line(x(time), top, x(time), bottom, GRID))
        label = time.astimezone(UTC).strftime(time_format)
        body.append(_text(label, x=x(time), y=bottom + 16, text_anchor="middle", font_size=11, fill=MUTED))
    body.append(_text("UTC", x=right, y=bottom + 30, text_anchor="end", font_size=11, fill=MUTED))
    legend_top = bottom + 48
    for index, one in enumerate(series):
        colour, dashes = SERIES_STYLES[index % len(SERIES_STYLES)]
        style: dict[str, object] = {"stroke": colour, "stroke_width": 2} | (
            {"stroke_dasharray": dashes} if dashes else {}
        )
        if len(one.points) > 1:
            coordinates = " ".join(f"{_number(x(time))},{_number(y(value))}" for time, value in one.points)
            body.append(_element("polyline", {"points": coordinates, "fill": "none", **style}))
        if one.points:
            last_time, last_value = one.points[-1]
            body.append(_element("circle", {"cx": x(last_time), "cy": y(last_value), "r": 3, "fill": colour}))
        legend_x, legend_y = 10 + index % 2 * (width - 10) / 2, legend_top + index // 2 * 20
        body.append(
            _element(
                "line", {"x1": legend_x, "y1": legend_y - 4, "x2": legend_x + 24, "y2": legend_y - 4, **style}
            )
        )
        body.append(_label(one.name, (width - 10) / 2 - 40, 12, x=legend_x + 30, y=legend_y))
    height = legend_top + math.ceil(len(series) / 2) * 20 - 6
    description = _(
        "The Bradley–Terry rating of each of the leading models in this board's past snapshots, one line "
        "each; times in UTC."
    )
    return _svg(
        width, height, id_prefix=id_prefix, title=_("Ratings over time"), description=description, body=body
    )
