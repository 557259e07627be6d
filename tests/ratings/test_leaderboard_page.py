"""The leaderboard page without a browser: table, sorting, category boards, plots and their text
alternatives, the empty state, odd boards, and the number of queries."""

import datetime as dt
import math
import random
import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone, translation

from battles.models import Vote
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot
from ratings.services import pair_counts_add, ratings_refresh
from tests.factories import CategoryFactory, ContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db

# Name → strength on the Elo scale: a realistic spread, Chinese and Latin names, one long name.
MODELS = {
    "DeepSeek-V3": 1180,
    "通义千问 Qwen2.5-72B-Instruct": 1150,
    "GLM-4-Plus": 1120,
    "Kimi k1.5": 1100,
    "文心一言 4.0": 1070,
    "Yi-Lightning": 1040,
    "Llama-3.1-70B-Instruct": 1000,
    "Baichuan4": 980,
    "MiniMax abab6.5s": 950,
    "Mistral-Large-2411": 930,
    "Gemma-2-27B-it": 880,
}
NEWCOMER = "Phi-3.5-mini-instruct"  # few votes: preliminary


def _outcome(generator: random.Random, strength_a: float, strength_b: float) -> str:
    draw = generator.random()
    if draw < 0.1:
        return Vote.Outcome.TIE
    if draw < 0.15:
        return Vote.Outcome.BOTH_BAD
    a_wins = 1 / (1 + 10 ** ((strength_b - strength_a) / 400))
    return Vote.Outcome.A if generator.random() < a_wins else Vote.Outcome.B


def realistic_board(*, batches: int = 3, votes_per_batch: int = 150, seed: int = 7) -> dict:
    """12 contenders of varied strength, votes over two categories in batches a day apart, and after
    each batch a snapshot of every board, moved back to its batch's time (for the history plot)."""
    generator = random.Random(seed)
    contenders = {name: ContenderFactory(name=name) for name in MODELS}
    newcomer = ContenderFactory(name=NEWCOMER)
    strengths = {contender.pk: MODELS[name] for name, contender in contenders.items()} | {newcomer.pk: 900}
    categories = [CategoryFactory(code="QA", name="知识问答"), CategoryFactory(code="CODE", name="代码")]
    now = timezone.now()
    for batch in range(batches):
        batch_end = now - dt.timedelta(days=batches - 1 - batch, minutes=5)
        pool = list(contenders.values())
        votes = []
        for number in range(votes_per_batch):
            first, second = generator.sample(pool, 2)
            if batch == batches - 1 and number % 10 == 0:  # the newcomer plays a few games at the end
                first = newcomer
            votes.append(
                Vote(
                    contender_a=first,
                    contender_b=second,
                    category=categories[number % 2],
                    outcome=_outcome(generator, strengths[first.pk], strengths[second.pk]),
                    created_at=batch_end - dt.timedelta(seconds=(votes_per_batch - number) * 30),
                )
            )
        Vote.objects.bulk_create(votes)
        pair_counts_add(votes=votes)
        for category in (None, *categories):
            snapshot = ratings_refresh(category=category, force=True)
            RatingSnapshot.objects.filter(pk=snapshot.pk).update(created_at=batch_end)
    return {"contenders": [*contenders.values(), newcomer], "categories": categories}


# --- Reading the page --------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, and attributes of the cells that have them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._stack: list[dict] = []
        self._cell: list[str] | None = None
        self._phone_copy = False  # inside a phone-only copy of another column's value

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if "phone-only" in (attributes.get("class") or "").split():
            self._phone_copy = True
        elif tag == "table":
            self._stack.append({"attributes": attributes, "head": [], "rows": [], "header_attributes": []})
        elif self._stack and tag == "tr":
            self._stack[-1]["current"] = []
            self._stack[-1]["current_attributes"] = attributes
        elif self._stack and tag in ("td", "th"):
            self._cell = []
            self._stack[-1].setdefault("cell_attributes", []).append(attributes)
        elif tag == "svg" and self._cell is not None:
            self._cell.append("[svg]")

    def handle_endtag(self, tag: str) -> None:
        if self._phone_copy:
            self._phone_copy = tag != "span"
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        elif self._stack and tag in ("td", "th") and self._cell is not None:
            self._stack[-1]["current"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif self._stack and tag == "tr":
            table = self._stack[-1]
            cells, attributes = table.pop("current"), table.pop("cell_attributes", [])
            if not table["head"]:
                table["head"], table["header_attributes"] = cells, attributes
            else:
                table["rows"].append(
                    {"cells": cells, "attributes": attributes, "row": table["current_attributes"]}
                )

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._phone_copy:
            self._cell.append(data)


def tables_of(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def board_table(html: str) -> dict:
    (table,) = [table for table in tables_of(html) if "data-sortable" in table["attributes"]]
    return table


def names_in_table(html: str) -> list[str]:
    return [re.sub(r" preliminary$| 初步$", "", row["cells"][1]) for row in board_table(html)["rows"]]


def get(path: str, *, language: str | None = None) -> str:
    client = Client()
    if language:
        client.cookies["arena_language"] = language
    response = client.get(path)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def svg_of(html: str, figure_id: str) -> str:
    match = re.search(rf'<figure class="plot" id="{figure_id}">.*?</figure>', html, flags=re.DOTALL)
    assert match, f"no figure {figure_id}"
    return match.group(0)


# --- The table ---------------------------------------------------------------------------------------


def test_table_lists_every_contender_best_first_with_its_numbers(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    snapshot = RatingSnapshot.objects.filter(category=None).latest()
    ratings = list(
        snapshot.ratings.select_related("contender").order_by("rank", "-bt_rating", "contender__name")
    )
    html = get("/leaderboard/", language="en")
    table = board_table(html)
    assert table["head"] == [
        "Rank",
        "Model",
        "Rating",
        "Interval (95%)",
        "Lead robust to",
        "Win rate (ties excluded)",
        "Elo",
        "Votes",
        "Wins / losses / ties / both bad",
    ]
    assert len(table["rows"]) == 12
    for position, (row, rating) in enumerate(zip(table["rows"], ratings, strict=True)):
        win_rate = "—" if rating.win_rate is None else f"{rating.win_rate * 100:.1f}%"
        preliminary = " preliminary" if rating.preliminary else ""
        # Under the rank, the ranks the interval allows when it allows more than one.
        spread = f"{rating.rank}–{rating.rank_worst}" if rating.rank_worst > rating.rank else ""
        # Against the next model down by rating (the lowest-rated has none).
        robust = (
            ("" if position == len(ratings) - 1 else "—")
            if rating.robust_votes is None
            else f"{rating.robust_votes} vote" + ("" if rating.robust_votes == 1 else "s")
        )
        assert row["cells"] == [
            f"{rating.rank}{spread}",
            rating.contender.name + preliminary,
            f"{rating.bt_rating:.0f}",
            f"{rating.ci_low:.0f} – {rating.ci_high:.0f}",
            robust,
            win_rate,
            f"{rating.elo:.0f}",
            str(rating.votes),
            f"{rating.wins} / {rating.losses} / {rating.ties} / {rating.both_bad}",
        ]
    # The default order is by rank, marked for assistive technology on that column only.
    assert [cell.get("aria-sort") for cell in table["header_attributes"]] == ["ascending"] + [None] * 8
    # Every board of realistic size has some neighbours a few votes apart and some rank spread.
    assert any(rating.rank_worst > rating.rank for rating in ratings)
    by_rating = sorted(ratings, key=lambda rating: -rating.bt_rating)
    assert [rating.robust_votes is None for rating in by_rating] == [False] * 11 + [True]
    assert [rating.rank for rating in ratings] == sorted(rating.rank for rating in ratings)
    assert ratings[0].contender.name == "DeepSeek-V3"
    assert f"{snapshot.vote_count} votes, updated " in html
    assert timezone.localtime(snapshot.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in html


def test_preliminary_contenders_are_marked_and_explained(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    html = get("/leaderboard/", language="en")
    marked = [
        row["cells"][1] for row in board_table(html)["rows"] if row["cells"][1].endswith(" preliminary")
    ]
    assert marked == [f"{NEWCOMER} preliminary"]
    assert "Fewer than 40 votes so far: the rating can still move a lot." in html
    newcomer = ContenderRating.objects.get(
        snapshot=RatingSnapshot.objects.filter(category=None).latest(), contender__name=NEWCOMER
    )
    assert newcomer.votes < 40 and newcomer.preliminary


def test_no_preliminary_note_when_every_contender_has_enough_votes(settings):
    settings.ARENA_PRELIMINARY_VOTES = 1
    realistic_board(batches=1)
    html = get("/leaderboard/", language="en")
    assert "preliminary-mark" not in html and "Fewer than" not in html


SORTS = {
    "rank": (lambda rating: rating.rank, "ascending"),
    "model": (lambda rating: rating.contender.name.casefold(), "ascending"),
    "rating": (lambda rating: rating.bt_rating, "descending"),
    "win_rate": (lambda rating: rating.win_rate, "descending"),
    "elo": (lambda rating: rating.elo, "descending"),
    "votes": (lambda rating: rating.votes, "descending"),
}


def expected_order(ratings: list[ContenderRating], column: str, order: str) -> list[str]:
    key = SORTS[column][0]
    present = sorted([r for r in ratings if key(r) is not None], key=key, reverse=order == "desc")
    return [r.contender.name for r in present] + [r.contender.name for r in ratings if key(r) is None]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("column", list(SORTS))
def test_sorting_by_each_column_both_ways(column, order, settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board(batches=1)
    # A contender without a decisive vote: its win rate is missing and goes last both ways.
    silent = ContenderFactory(name="Silent-7B")
    VoteFactory(contender_a=silent, contender_b=ContenderFactory(name="Quiet-13B"), outcome="tie")
    ratings_refresh(force=True)
    ratings = list(
        RatingSnapshot.objects.filter(category=None)
        .latest()
        .ratings.select_related("contender")
        .order_by("rank", "-bt_rating", "contender__name")
    )
    html = get(f"/leaderboard/?sort={column}&order={order}", language="en")
    assert names_in_table(html) == expected_order(ratings, column, order)
    if column == "win_rate":
        assert sorted(names_in_table(html)[-2:]) == ["Quiet-13B", "Silent-7B"]
    headers = board_table(html)["header_attributes"]
    sorted_header = {"rank": 0, "model": 1, "rating": 2, "win_rate": 5, "elo": 6, "votes": 7}[column]
    assert [cell.get("aria-sort") for cell in headers] == [
        ("ascending" if order == "asc" else "descending") if index == sorted_header else None
        for index in range(9)
    ]
    # The heading's link asks for the other order; the other headings for their natural first order.
    links = dict(re.findall(r'data-sort-column="(\w+)"[^>]*><a href="([^"]*)" data-sort-link', html))
    flipped = "desc" if order == "asc" else "asc"
    expected_link = "?" if (column, flipped) == ("rank", "asc") else f"?sort={column}&amp;order={flipped}"
    assert links[column] == expected_link
    if column != "votes":
        assert links["votes"] == "?sort=votes&amp;order=desc"


def test_sorting_rejects_unknown_columns_and_orders():
    for query in ("?sort=price", "?sort=rank&order=up"):
        response = Client().get("/leaderboard/" + query)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")
    assert "price" in Client().get("/leaderboard/?sort=price").content.decode()


def test_sorting_works_on_an_empty_board():
    assert "还没有投票" in get("/leaderboard/?sort=votes&order=asc")


# --- Category boards ---------------------------------------------------------------------------------


def test_category_tabs_and_a_category_board(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    board = realistic_board(batches=1)
    qa = board["categories"][0]
    html = get("/leaderboard/", language="en")
    tabs = re.findall(r'<li><a href="([^"]*)" data-board-link( aria-current="page")?>([^<]+)</a></li>', html)
    assert tabs == [
        ("?", ' aria-current="page"', "All"),
        ("?category=CODE", "", "代码"),
        ("?category=QA", "", "知识问答"),
    ]

    html = get("/leaderboard/?category=QA&sort=votes&order=desc", language="en")
    snapshot = RatingSnapshot.objects.filter(category=qa).latest()
    assert f"{snapshot.vote_count} votes, updated" in html
    assert snapshot.vote_count == 75
    ratings = list(
        snapshot.ratings.select_related("contender").order_by("rank", "-bt_rating", "contender__name")
    )
    assert names_in_table(html) == expected_order(ratings, "votes", "desc")
    tabs = re.findall(r'<li><a href="([^"]*)" data-board-link( aria-current="page")?>', html)
    assert tabs == [
        ("?sort=votes&amp;order=desc", ""),
        ("?category=CODE&amp;sort=votes&amp;order=desc", ""),
        ("?category=QA&amp;sort=votes&amp;order=desc", ' aria-current="page"'),
    ]
    # The sort links stay on the category's board.
    assert 'href="?category=QA&amp;sort=rating&amp;order=desc" data-sort-link' in html


def test_unknown_category_is_404_and_a_category_without_board_is_empty(settings):
    realistic_board(batches=1)
    missing = Client().get("/leaderboard/?category=NOPE")
    assert missing.status_code == 404
    page = missing.content.decode()
    assert "没有类别“NOPE”。" in page and 'href="/leaderboard/"' in page  # the site's own page
    assert Client().get("/leaderboard/?category=%00").status_code == 404
    CategoryFactory(code="MATH", name="数学")
    html = get("/leaderboard/?category=MATH", language="en")
    assert "No votes yet. Cast the first one!" in html
    assert 'href="?category=MATH" data-board-link aria-current="page">数学<' in html


def test_empty_state_without_any_snapshot():
    html = get("/leaderboard/")
    assert "还没有投票" in html
    assert "<table" not in html and "<svg" not in html and "data-board-link" not in html


# --- Plots -------------------------------------------------------------------------------------------


def test_each_plot_is_an_svg_image_with_title_description_and_numbers(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    html = get("/leaderboard/", language="en")
    for figure_id, title in (
        ("ratings-plot", "Ratings and their intervals"),
        ("history-plot", "Ratings over time"),
        ("win-rate-plot", "Win rates between models"),
        ("battle-count-plot", "Battles between models"),
    ):
        figure = svg_of(html, figure_id)
        svg = re.search(r"<svg [^>]*>", figure).group(0)
        assert 'role="img"' in svg and "viewBox=" in svg
        prefix = re.search(r'aria-labelledby="([\w-]+)-title \1-desc"', svg).group(1)
        assert f'<title id="{prefix}-title">{title}</title>' in figure
        assert re.search(rf'<desc id="{prefix}-desc">[^<]{{40,}}</desc>', figure)
        assert "<details>" in figure and "Show the numbers" in figure
    svgs = "".join(re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL))
    assert (
        "href" not in svgs
        and "<script" not in svgs
        and "http://" not in svgs.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_the_ratings_plot_text_alternative_has_the_table_numbers(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    html = get("/leaderboard/", language="en")
    table = {
        row["cells"][1].removesuffix(" preliminary"): row["cells"][2:4] for row in board_table(html)["rows"]
    }
    figure = svg_of(html, "ratings-plot")
    (numbers,) = tables_of(figure)
    assert numbers["head"] == ["Model", "Rating", "Interval (95%)"]
    assert len(numbers["rows"]) == 12
    for row in numbers["rows"]:
        name, rating, interval = row["cells"]
        assert table[name] == [rating, interval]
        # ... and the plot writes the same rating next to the same name (a shortened name keeps the
        # whole one as its tooltip).
        label = rf"(>{re.escape(name)}</text>|<title>{re.escape(name)}</title>[^<]*</text>)"
        assert re.search(rf"{label}.*?>{rating}</text>", figure, flags=re.S)


def test_heatmap_text_alternatives_have_the_matrix_numbers(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    snapshot = RatingSnapshot.objects.filter(category=None).latest()
    matrices = RatingMatrix.objects.get(snapshot=snapshot)
    names = dict(snapshot.ratings.values_list("contender_id", "contender__name"))
    index_of = {names[contender_id]: index for index, contender_id in enumerate(matrices.contender_ids)}
    html = get("/leaderboard/", language="en")
    (win_rates,) = tables_of(svg_of(html, "win-rate-plot"))
    (counts,) = tables_of(svg_of(html, "battle-count-plot"))
    order = names_in_table(html)
    assert win_rates["head"][1:] == counts["head"][1:] == order  # the table's order, all 12 (≤ 15)
    checked_empty = 0
    for win_row, count_row in zip(win_rates["rows"], counts["rows"], strict=True):
        row_name = win_row["cells"][0]
        for column_name, win_cell, count_cell in zip(
            order, win_row["cells"][1:], count_row["cells"][1:], strict=True
        ):
            i, j = index_of[row_name], index_of[column_name]
            if i == j:
                assert win_cell == count_cell == ""
                continue
            assert count_cell == str(matrices.battle_counts[i][j])
            value = matrices.win_rates[i][j]
            if value is None:
                checked_empty += 1
                assert win_cell == "—"
            else:
                assert win_cell == f"{value * 100:.1f}%"
    # The newcomer played few opponents: some pairs have no decisive battle, marked in the heatmap.
    assert checked_empty > 0
    assert "url(#plot-win-rates-empty)" in svg_of(html, "win-rate-plot")


def test_the_history_plot_shows_past_snapshots(settings):
    settings.ARENA_PRELIMINARY_VOTES = 0  # every snapshot's ratings count (the next test: not all)
    realistic_board(batches=3)
    html = get("/leaderboard/", language="en")
    figure = svg_of(html, "history-plot")
    (numbers,) = tables_of(figure)
    order = names_in_table(html)
    assert numbers["head"] == ["Time (UTC)", *order[:8]]
    assert len(numbers["rows"]) == 3  # one row per snapshot of this board
    snapshots = list(RatingSnapshot.objects.filter(category=None).order_by("created_at"))
    assert [row["cells"][0] for row in numbers["rows"]] == [
        snapshot.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") for snapshot in snapshots
    ]
    leader = ContenderRating.objects.get(snapshot=snapshots[-1], contender__name=order[0])
    assert numbers["rows"][-1]["cells"][1] == f"{leader.bt_rating:.0f}"
    assert figure.count("<polyline") == 8


def test_the_history_leaves_out_ratings_from_too_few_votes(settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board(batches=3)
    snapshots = list(RatingSnapshot.objects.filter(category=None).order_by("created_at"))
    counted = [
        snapshot
        for snapshot in snapshots
        if ContenderRating.objects.filter(snapshot=snapshot, votes__gte=40).exists()
    ]
    assert 2 <= len(counted) < len(snapshots)  # the first batch left every model below 40 votes
    html = get("/leaderboard/", language="en")
    (numbers,) = tables_of(svg_of(html, "history-plot"))
    assert [row["cells"][0] for row in numbers["rows"]] == [
        snapshot.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") for snapshot in counted
    ]
    # A model below 40 votes in a snapshot has no point there ("—" in the numbers), the others do.
    names = numbers["head"][1:]
    for snapshot, row in zip(counted, numbers["rows"], strict=True):
        below = set(
            ContenderRating.objects.filter(snapshot=snapshot, votes__lt=40).values_list(
                "contender__name", flat=True
            )
        )
        assert [cell == "—" for cell in row["cells"][1:]] == [name in below for name in names]


def test_the_history_waits_for_a_second_snapshot(settings):
    realistic_board(batches=1)
    html = get("/leaderboard/", language="en")
    assert "The history appears once models have at least 100 votes, in more than one snapshot" in html
    assert "<svg" not in svg_of(html, "history-plot")


def test_names_are_escaped_everywhere(settings):
    hostile = ContenderFactory(name='<script>alert("x")</script> & Co')
    VoteFactory(contender_a=hostile, contender_b=ContenderFactory(name="Plain"), outcome="a")
    ratings_refresh(force=True)
    html = get("/leaderboard/")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html


# --- Odd boards --------------------------------------------------------------------------------------


def test_a_board_with_a_single_contender():
    only = ContenderFactory(name="Lonely-1B")
    snapshot = RatingSnapshot.objects.create(
        vote_count=0, duration_ms=1, parameters={"bootstrap_rounds": 100}, flags=["single_contender"]
    )
    ContenderRating.objects.create(
        snapshot=snapshot,
        contender=only,
        elo=1000,
        bt_rating=1000,
        ci_low=1000,
        ci_high=1000,
        wins=0,
        losses=0,
        ties=0,
        both_bad=0,
        votes=0,
        win_rate=None,
        preliminary=True,
    )
    RatingMatrix.objects.create(
        snapshot=snapshot,
        contender_ids=[only.pk],
        battle_counts=[[0]],
        win_rates=[[None]],
        predicted_win_rates=[[0.5]],
    )
    html = get("/leaderboard/", language="en")
    (row,) = board_table(html)["rows"]
    assert row["cells"] == [
        "1",
        "Lonely-1B preliminary",
        "1000",
        "1000 – 1000",
        "",
        "—",
        "1000",
        "0",
        "0 / 0 / 0 / 0",
    ]
    assert 'id="ratings-plot"' in html
    assert 'id="win-rate-plot"' not in html and 'id="battle-count-plot"' not in html  # nothing to pair


def test_a_contender_without_a_decisive_vote():
    tied, other = ContenderFactory(name="Tied-A"), ContenderFactory(name="Tied-B")
    VoteFactory(contender_a=tied, contender_b=other, outcome="tie")
    VoteFactory(contender_a=other, contender_b=tied, outcome="both_bad")
    ratings_refresh()
    html = get("/leaderboard/", language="en")
    rows = {row["cells"][1].removesuffix(" preliminary"): row for row in board_table(html)["rows"]}
    assert rows["Tied-A"]["cells"][5] == rows["Tied-B"]["cells"][5] == "—"
    assert rows["Tied-A"]["cells"][8] == "0 / 0 / 1 / 1"
    assert rows["Tied-A"]["attributes"][5]["data-value"] == ""
    # Level already: no vote needs to go for the two to be level.
    assert {rows["Tied-A"]["cells"][4], rows["Tied-B"]["cells"][4]} == {"level", ""}
    (win_rates,) = tables_of(svg_of(html, "win-rate-plot"))
    assert [row["cells"][1:] for row in win_rates["rows"]] == [["", "—"], ["—", ""]]
    for column in ("win_rate", "rating"):
        for order in ("asc", "desc"):
            assert get(f"/leaderboard/?sort={column}&order={order}")


def test_plots_show_the_best_ranked_and_the_table_shows_all(settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 20
    contenders = [ContenderFactory(name=f"m-{number:02d}") for number in range(34)]
    for index, contender in enumerate(contenders[1:], start=1):
        previous = contenders[index - 1]
        VoteFactory(contender_a=previous, contender_b=contender, outcome="a")
        VoteFactory(contender_a=contender, contender_b=previous, outcome="b")
        VoteFactory(contender_a=contender, contender_b=previous, outcome="a")
    ratings_refresh()
    html = get("/leaderboard/", language="en")
    assert len(board_table(html)["rows"]) == 34
    assert len(tables_of(svg_of(html, "ratings-plot"))[0]["rows"]) == 30
    assert "(the 30 best-ranked models; the table lists all)" in html
    assert len(tables_of(svg_of(html, "win-rate-plot"))[0]["rows"]) == 15


# --- Cost --------------------------------------------------------------------------------------------


def test_query_count_is_pinned_for_twenty_contenders(django_assert_num_queries, settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 20
    generator = random.Random(3)
    contenders = [ContenderFactory(name=f"model-{number}") for number in range(20)]
    category = CategoryFactory(code="QA")
    for _ in range(3):
        votes = [
            Vote(contender_a=a, contender_b=b, outcome=generator.choice("ab"), category=category)
            for a, b in (generator.sample(contenders, 2) for _ in range(200))
        ]
        Vote.objects.bulk_create(votes)
        pair_counts_add(votes=votes)
        ratings_refresh(force=True)
        ratings_refresh(category=category, force=True)
    client = Client()
    # Boards with categories, the snapshot, its rows and contenders, its matrices, the history's
    # snapshots and their ratings, whether there is a judge board (for its tab): seven queries whatever
    # the number of contenders.
    with django_assert_num_queries(7):
        response = client.get("/leaderboard/?sort=votes&order=asc")
    assert len(board_table(response.content.decode())["rows"]) == 20
    with django_assert_num_queries(7):
        response = client.get("/leaderboard/?category=QA")
    assert len(board_table(response.content.decode())["rows"]) == 20


def test_page_weight_at_130_contenders(settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 20
    generator = random.Random(5)
    contenders = [ContenderFactory(name=f"vendor-model-{number:03d}-instruct") for number in range(130)]
    for _ in range(3):
        votes = [
            Vote(contender_a=a, contender_b=b, outcome=generator.choice(["a", "b", "tie"]))
            for a, b in (generator.sample(contenders, 2) for _ in range(3000))
        ]
        Vote.objects.bulk_create(votes)
        pair_counts_add(votes=votes)
        snapshot = ratings_refresh(force=True)
        RatingSnapshot.objects.filter(pk=snapshot.pk).update(
            created_at=snapshot.created_at - dt.timedelta(hours=1)
        )
    html = get("/leaderboard/", language="en")
    size = len(html.encode())
    print(f"leaderboard page at 130 contenders: {size} bytes")
    assert len(board_table(html)["rows"]) == 130
    assert size < 200_000
    assert math.isfinite(size)


@translation.override("en")
def test_an_interval_cut_at_the_axis_ends_in_an_arrow_and_the_legend_says_so():
    from ratings.plots import RatingBar, ratings_svg, text_width

    steady = [
        RatingBar(name=f"m{n}", rating=1000 + n, low=990 + n, high=1010 + n, preliminary=False)
        for n in range(3)
    ]
    assert "interval goes on beyond the axis" not in ratings_svg(steady)
    wild = RatingBar(name="new", rating=1000, low=-505, high=2594, preliminary=True)
    svg = ratings_svg([*steady, wild])
    assert "interval goes on beyond the axis" in svg
    # On a line of its own, inside the chart's width (a phone shows the whole chart, scaled).
    (x,) = re.findall(r'<text x="([\d.]+)" y="[\d.]+">interval goes on beyond the axis</text>', svg)
    assert float(x) + text_width("interval goes on beyond the axis", 13) <= 440
    assert svg.count("<path") == 3  # the wild interval's two arrow tips, and the legend's
    # The axis covers the ratings, not the wild interval: its ticks stay near them.
    ticks = [int(tick) for tick in re.findall(r">(\d{3,4})</text>", svg)]
    assert ticks and min(ticks) >= 900 and max(ticks) <= 1100


def test_a_preliminary_row_is_greyed(settings):
    settings.ARENA_PRELIMINARY_VOTES = 10
    a, b = ContenderFactory(name="A-1"), ContenderFactory(name="B-1")
    VoteFactory(contender_a=a, contender_b=b, outcome="a")
    ratings_refresh(force=True)
    html = get("/leaderboard/", language="en")
    rows = re.findall(r'<tr data-position="\d+" id="contender-\d+"( class="preliminary")?>', html)
    assert rows == [' class="preliminary"', ' class="preliminary"']
