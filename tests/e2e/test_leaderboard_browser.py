"""The leaderboard in a real browser: zh-Hans and English, desktop and phone, with screenshots."""

import pytest
from playwright.sync_api import Page, expect

from ratings.models import RatingSnapshot
from tests.e2e.conftest import DESKTOP, PHONE
from tests.ratings.test_leaderboard_page import realistic_board

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ["#ratings-plot", "#history-plot", "#win-rate-plot", "#battle-count-plot"]


def model_names(page: Page) -> list[str]:
    return page.locator("table.leaderboard tbody th").evaluate_all(
        "cells => cells.map(cell => cell.firstChild.textContent.trim())"
    )


def assert_charts_drawn(page: Page) -> None:
    for chart in CHARTS:
        svg = page.locator(f"{chart} svg")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, chart
        # Each chart has its title and description for assistive technology.
        assert svg.locator("title").first.text_content()
        assert svg.get_attribute("role") == "img"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_leaderboard_in_chinese_and_english(visit, settings, viewport):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    size = "desktop" if viewport is DESKTOP else "phone"
    browser = visit(viewport=viewport)
    page = browser.open("/leaderboard/")

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_have_text("排行榜")
    expect(page.locator("table.leaderboard tbody tr")).to_have_count(12)
    expect(page.locator("table.leaderboard thead")).to_contain_text("胜率")
    expect(page.locator(".preliminary-mark").first).to_be_visible()
    assert model_names(page)[0] == "DeepSeek-V3"
    assert_charts_drawn(page)
    # The page never scrolls sideways: a wide table or chart scrolls inside its own frame.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browser.screenshot(f"{size}-leaderboard-zh")
    if viewport is PHONE:  # the seed's columns fit the screen: the interval sits under the rating
        votes_header = page.locator('th[data-sort-column="votes"]').bounding_box()
        assert votes_header is not None and votes_header["x"] + votes_header["width"] <= PHONE["width"]
        expect(page.locator("table.leaderboard tbody tr").first.locator(".phone-only")).to_be_visible()
        # Every chart's frame fits the screen (a wide heatmap scrolls inside it), and the heatmap's
        # legend is read whole without scrolling sideways.
        frames = page.locator(".plot-frame")
        assert frames.count() == 4
        for index in range(frames.count()):
            box = frames.nth(index).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        legend = page.locator("#win-rate-plot svg text", has_text="没有分出胜负").bounding_box()
        assert legend is not None and legend["x"] + legend["width"] <= PHONE["width"]
    else:
        expect(page.locator("table.leaderboard tbody tr").first.locator(".phone-only")).to_be_hidden()

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Leaderboard")
    expect(page.locator("table.leaderboard thead")).to_contain_text("Win rate (ties excluded)")
    assert_charts_drawn(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browser.screenshot(f"{size}-leaderboard-en")

    # A chart's numbers are one click away.
    figure = page.locator("#win-rate-plot")
    figure.get_by_text("Show the numbers").click()
    expect(figure.locator("table.numbers")).to_be_visible()


def test_sorting_in_place_and_category_tabs(visit, settings):
    settings.ARENA_PRELIMINARY_VOTES = 40
    realistic_board()
    snapshot = RatingSnapshot.objects.filter(category=None).latest()
    by_votes = [
        rating.contender.name
        for rating in snapshot.ratings.select_related("contender").order_by("votes", "rank", "-bt_rating")
    ]
    browser = visit()
    page = browser.open("/leaderboard/")
    page.get_by_role("button", name="English").click()
    votes = page.locator('th[data-sort-column="votes"]')

    votes.get_by_role("link").click()  # most votes first
    expect(votes).to_have_attribute("aria-sort", "descending")
    assert page.evaluate("location.search") == "?sort=votes&order=desc"
    descending = model_names(page)
    votes.get_by_role("link").click()
    expect(votes).to_have_attribute("aria-sort", "ascending")
    ascending = model_names(page)
    assert ascending[0] == by_votes[0] == "Phi-3.5-mini-instruct"  # the newcomer has the fewest
    assert sorted(ascending) == sorted(descending) and ascending != descending

    # The category tabs keep the order; a category's board has its own snapshot.
    page.get_by_role("navigation", name="Categories").get_by_role("link", name="代码").click()
    expect(page.get_by_role("link", name="代码")).to_have_attribute("aria-current", "page")
    assert "category=CODE" in page.url and "sort=votes" in page.url
    expect(page.locator('th[data-sort-column="votes"]')).to_have_attribute("aria-sort", "ascending")
    code_votes = RatingSnapshot.objects.filter(category__code="CODE").latest().vote_count
    expect(page.locator(".meta")).to_contain_text(f"{code_votes} votes")
    browser.screenshot("desktop-leaderboard-category-en")
