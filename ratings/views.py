from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from battles.models import Category
from battles.selectors import category_by_code
from judges.selectors import judge_board_exists, judge_board_latest
from ratings import plots
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot
from ratings.selectors import (
    categories_with_boards,
    leaderboard_latest,
    matrices_of_snapshot,
    rating_history,
)

# How many of the best-ranked contenders each plot shows (the table shows all of them).
RATINGS_PLOT_SIZE = 30
HEATMAP_SIZE = 15
HISTORY_SIZE = 8
HISTORY_DAYS = 30

# Column → (sort key, the order a first click asks for). Missing values sort last either way.
SORT_KEYS: dict[str, tuple[Callable[["TableRow"], float | None], str]] = {
    "rank": (lambda row: row.rank, "asc"),
    "model": (lambda row: row.name_order, "asc"),
    "rating": (lambda row: row.value, "desc"),
    "win_rate": (lambda row: row.rating.win_rate, "desc"),
    "elo": (lambda row: row.rating.elo, "desc"),
    "votes": (lambda row: row.rating.votes, "desc"),
}
ORDERS = {"asc": "ascending", "desc": "descending"}


@dataclass(frozen=True)
class TableRow:
    rating: ContenderRating
    position: int  # in the board's own order: rank, then rating
    name_order: int  # in the order of the models' names
    style: bool = False  # the style-controlled board: its rating, interval and ranks

    @property
    def value(self) -> float | None:
        """The rating shown; None on the style-controlled board for a contender without one."""
        return self.rating.style_rating if self.style else self.rating.bt_rating

    @property
    def low(self) -> float | None:
        return self.rating.style_low if self.style else self.rating.ci_low

    @property
    def high(self) -> float | None:
        return self.rating.style_high if self.style else self.rating.ci_high

    @property
    def rank(self) -> int | None:
        return self.rating.style_rank if self.style else self.rating.rank

    @property
    def rank_worst(self) -> int | None:
        return self.rating.style_rank_worst if self.style else self.rating.rank_worst

    @property
    def rank_spread(self) -> bool:
        """Whether the interval allows more than one rank."""
        return self.rank is not None and self.rank_worst is not None and self.rank_worst > self.rank

    @property
    def has_interval(self) -> bool:
        # A snapshot computed without bootstrap rounds stores zeros rather than an interval.
        if self.value is None or self.low is None or self.high is None:
            return False
        return not (self.low == self.high == 0.0 != self.value)


@dataclass(frozen=True)
class SortHeader:
    column: str
    label: str
    url: str
    aria_sort: str  # "" unless the table is sorted by this column
    first_order: str


@dataclass(frozen=True)
class Tab:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class Heatmaps:
    names: list[str]
    win_rates: list[list[float | None]]
    battle_counts: list[list[int]]
    win_rates_svg: SafeString
    battle_counts_svg: SafeString

    @property
    def win_rate_rows(self) -> list[tuple[str, list[float | None]]]:
        return list(zip(self.names, self.win_rates, strict=True))

    @property
    def battle_count_rows(self) -> list[tuple[str, list[int]]]:
        return list(zip(self.names, self.battle_counts, strict=True))


@dataclass(frozen=True)
class History:
    names: list[str]
    # One row per snapshot time, a rating (or None) per model.
    table: list[tuple[datetime, list[float | None]]]
    svg: SafeString


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    boards = categories_with_boards()
    category = _category(request.GET.get("category", ""), boards)
    sort = request.GET.get("sort", "rank")
    if sort not in SORT_KEYS:
        message = _("Cannot sort by “%(column)s”: choose one of %(columns)s.")
        return _bad_request(message % {"column": sort, "columns": ", ".join(SORT_KEYS)})
    order = request.GET.get("order", SORT_KEYS[sort][1])
    if order not in ORDERS:
        return _bad_request(_("The order must be asc or desc, not “%(order)s”.") % {"order": order})

    board = request.GET.get("board", "raw")
    if board not in ("raw", "style", "judge"):
        return _bad_request(_("The board must be raw, style or judge, not “%(board)s”.") % {"board": board})
    with_retired = request.GET.get("retired", "") == "1"
    view = _View(category=category, sort=sort, order=order, board=board, retired=with_retired)
    if board == "judge":
        return _judge_board_page(request, boards, view)

    leaderboard = leaderboard_latest(category=category, board=board, with_retired=with_retired)
    style = board == "style" and any(row.style_rating is not None for row in leaderboard.rows)
    rows = _table_rows(leaderboard.rows, style=style)
    context: dict[str, object] = {
        "category": category,
        "tabs": _tabs(boards, view),
        "headers": _headers(view),
        "snapshot": leaderboard.snapshot,
        "rows": _sorted(rows, sort, order),
        "sort": sort,
        "order": order,
        "board": board,
        "style": style,
        "with_retired": with_retired,
    }
    with_judges = judge_board_exists()
    context["with_judges"] = with_judges
    if leaderboard.snapshot is not None or with_judges:
        context.update(_board_switches(leaderboard.retired_count, view, with_judges=with_judges))
    if leaderboard.snapshot is not None and rows:
        context["any_preliminary"] = any(row.rating.preliminary for row in rows)
        context["any_sampling"] = any(row.rating.sampling_share is not None for row in rows)
        context["any_mle"] = any(row.rating.mle_rating is not None for row in rows)
        context["style_coefficients"] = _style_labels(
            (leaderboard.snapshot.parameters.get("style") or {}).get("coefficients", [])
        )
        context["style_votes"] = (leaderboard.snapshot.parameters.get("style") or {}).get("votes", 0)
        context["preliminary_below"] = leaderboard.snapshot.parameters.get(
            "preliminary_below_votes", settings.ARENA_PRELIMINARY_VOTES
        )
        context.update(_plots(leaderboard.snapshot, rows, category))
    return render(request, "ratings/leaderboard.html", context)


def _judge_board_page(request: HttpRequest, boards: list[Category], view: "_View") -> HttpResponse:
    """The judge board tab: ratings from the LLM judges' verdicts and how each judge agrees with the
    voters (judges/)."""
    judge_board = judge_board_latest(
        category=view.category, with_retired=view.retired, with_categories=view.category is None
    )
    context: dict[str, object] = {
        "category": view.category,
        "tabs": _tabs(boards, view),
        "board": "judge",
        "judge_board": judge_board,
        "snapshot": judge_board.snapshot,
        "with_retired": view.retired,
        **_board_switches(judge_board.retired_count, view, with_judges=True),
    }
    if judge_board.snapshot is not None:
        parameters = judge_board.snapshot.parameters
        context["style_coefficients"] = _style_labels((parameters.get("style") or {}).get("coefficients", []))
        context["preliminary_below"] = parameters.get(
            "preliminary_below_votes", settings.ARENA_PRELIMINARY_VOTES
        )
        context["any_cold_start"] = any(row.is_cold_start for row in judge_board.rows)
        context["any_style"] = any(row.style_rating is not None for row in judge_board.rows)
        context["several_judges"] = len({item.get("judge_id") for item in judge_board.agreement}) > 1
    return render(request, "judges/board.html", context)


def _style_labels(coefficients: list[dict[str, object]]) -> list[dict[str, object]]:
    labels = {
        "length": _("Length"),
        "headers": _("Headers"),
        "lists": _("List items"),
        "bold": _("Bold text"),
    }
    return [{**item, "label": labels.get(str(item.get("name")), item.get("name"))} for item in coefficients]


def _bad_request(message: str) -> HttpResponse:
    # Plain text: the message repeats what was asked for.
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _category(code: str, boards: list[Category]) -> Category | None:
    """The board asked for: None for all categories; 404 for a category that does not exist."""
    if not code:
        return None
    if "\x00" in code:  # no category code can hold it (nor can the database)
        raise Http404(_("There is no category “%(code)s”.") % {"code": code.replace("\x00", "")})
    for board in boards:
        if board.code == code:
            return board
    category = category_by_code(code=code)  # a category yet without a board of its own
    if category is None:
        raise Http404(_("There is no category “%(code)s”.") % {"code": code})
    return category


@dataclass(frozen=True)
class _View:
    """What the page shows: its query parameters."""

    category: Category | None
    sort: str
    order: str
    board: str
    retired: bool

    def url(self, **changes: object) -> str:
        view = replace(self, **changes)  # type: ignore[arg-type]
        parameters = {
            "category": view.category.code if view.category else "",
            "board": "" if view.board == "raw" else view.board,
            "retired": "1" if view.retired else "",
            "sort": view.sort,
            "order": view.order,
        }
        if (view.sort, view.order) == ("rank", "asc"):
            del parameters["sort"], parameters["order"]
        return "?" + urlencode({key: value for key, value in parameters.items() if value})


def _board_switches(retired_count: int, view: _View, *, with_judges: bool) -> dict[str, object]:
    """The links between the raw and style-controlled boards, and to show or hide retired models."""
    return {
        "board_links": [
            Tab(label=_("As voted"), url=view.url(board="raw"), current=view.board == "raw"),
            Tab(label=_("Style controlled"), url=view.url(board="style"), current=view.board == "style"),
            *(
                [Tab(label=_("LLM judges"), url=view.url(board="judge"), current=view.board == "judge")]
                if with_judges
                else []
            ),
        ],
        "retired_count": retired_count,
        "retired_toggle_url": view.url(retired=not view.retired),
    }


def _tabs(boards: list[Category], view: _View) -> list[Tab]:
    if not boards:
        return []
    current = view.category
    tabs = [Tab(label=_("All"), url=view.url(category=None), current=current is None)]
    shown = boards if current is None or current in boards else [*boards, current]
    tabs += [
        Tab(label=board.display_name, url=view.url(category=board), current=board == current)
        for board in shown
    ]
    return tabs


def _headers(view: _View) -> dict[str, SortHeader]:
    sort, order = view.sort, view.order
    labels = {
        "rank": _("Rank"),
        "model": _("Model"),
        "rating": _("Rating"),
        "win_rate": _("Win rate (ties excluded)"),
        "elo": _("Elo"),
        "votes": _("Votes"),
    }
    headers = {}
    for column, (_key, first_order) in SORT_KEYS.items():
        current = column == sort
        next_order = ("desc" if order == "asc" else "asc") if current else first_order
        headers[column] = SortHeader(
            column=column,
            label=labels[column],
            url=view.url(sort=column, order=next_order),
            aria_sort=ORDERS[order] if current else "",
            first_order=first_order,
        )
    return headers


def _table_rows(ratings: list[ContenderRating], *, style: bool) -> list[TableRow]:
    by_name = sorted(range(len(ratings)), key=lambda index: (ratings[index].contender.name.casefold(), index))
    name_order = {index: order for order, index in enumerate(by_name)}
    return [
        TableRow(rating=rating, position=index, name_order=name_order[index], style=style)
        for index, rating in enumerate(ratings)
    ]


def _sorted(rows: list[TableRow], sort: str, order: str) -> list[TableRow]:
    """Sorted by one column, ties in the board's own order; rows without a value go last either way."""
    key = SORT_KEYS[sort][0]
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=lambda row: key(row) or 0.0, reverse=order == "desc") + missing


def _plots(snapshot: RatingSnapshot, rows: list[TableRow], category: Category | None) -> dict[str, object]:
    best = [row for row in rows if row.value is not None][:RATINGS_PLOT_SIZE]
    bars = [
        plots.RatingBar(
            name=row.rating.contender.name,
            rating=row.value,
            low=row.low if row.has_interval and row.low is not None else row.value,
            high=row.high if row.has_interval and row.high is not None else row.value,
            preliminary=row.rating.preliminary,
        )
        for row in best
        if row.value is not None
    ]
    return {
        "ratings_plot": {"rows": best, "svg": plots.ratings_svg(bars), "truncated": len(rows) > len(best)},
        "heatmaps": _heatmaps(matrices_of_snapshot(snapshot=snapshot), rows[:HEATMAP_SIZE]),
        "heatmap_truncated": len(rows) > HEATMAP_SIZE,
        "history": _history(snapshot, rows[:HISTORY_SIZE], category),
        "history_truncated": len(rows) > HISTORY_SIZE,
        "history_size": HISTORY_SIZE,
        "heatmap_size": HEATMAP_SIZE,
        "ratings_plot_size": RATINGS_PLOT_SIZE,
    }


def _heatmaps(matrices: RatingMatrix | None, rows: list[TableRow]) -> Heatmaps | None:
    if matrices is None:
        return None
    index_of = {contender_id: index for index, contender_id in enumerate(matrices.contender_ids)}
    shown = [row for row in rows if row.rating.contender_id in index_of]
    if len(shown) < 2:
        return None
    indices = [index_of[row.rating.contender_id] for row in shown]
    names = [row.rating.contender.name for row in shown]
    win_rates = [[matrices.win_rates[i][j] for j in indices] for i in indices]
    counts = [[int(matrices.battle_counts[i][j]) for j in indices] for i in indices]
    return Heatmaps(
        names=names,
        win_rates=win_rates,
        battle_counts=counts,
        win_rates_svg=plots.win_rate_heatmap_svg(names, win_rates),
        battle_counts_svg=plots.battle_count_heatmap_svg(names, counts),
    )


def _history(snapshot: RatingSnapshot, rows: list[TableRow], category: Category | None) -> History | None:
    ids = [row.rating.contender_id for row in rows]
    points = rating_history(
        category=category,
        contender_ids=ids,
        days=HISTORY_DAYS,
        until=snapshot.created_at,
        min_votes=snapshot.parameters.get("preliminary_below_votes", settings.ARENA_PRELIMINARY_VOTES),
    )
    times = sorted({point.time for series in points.values() for point in series})
    if len(times) < 2:
        return None
    names = [row.rating.contender.name for row in rows]
    series = [
        plots.Series(name=name, points=[(point.time, point.rating) for point in points[contender_id]])
        for name, contender_id in zip(names, ids, strict=True)
    ]
    by_time = {
        contender_id: {point.time: point.rating for point in points[contender_id]} for contender_id in ids
    }
    table = [(time, [by_time[contender_id].get(time) for contender_id in ids]) for time in times]
    return History(names=names, table=table, svg=plots.history_svg([one for one in series if one.points]))
