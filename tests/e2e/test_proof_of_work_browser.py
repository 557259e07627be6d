"""The proof of work on votes in a real browser (ARENA_VOTE_POW_BITS): the page's script solves its
battle's challenge while the answers are read, a verdict chosen before that waits for it, the next
battle brought in without a page load comes with its own, and without JavaScript no vote counts."""

import pytest
from playwright.sync_api import expect

from battles.models import Battle, Vote
from battles.services.proof_of_work import vote_challenge
from tests.factories import BattleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The page's timers wait while window.arenaHeld is true: the search for the solution cannot end
# before the test lets it go on.
HOLD_THE_TIMERS = """
window.arenaHeld = true;
var later = window.setTimeout;
window.setTimeout = function (run, delay) {
  return later(function again() { if (window.arenaHeld) later(again, 20); else run(); }, delay);
};
"""


def challenge_of(battle: Battle) -> str:
    return vote_challenge(battle_id=battle.pk, voter_id=battle.voter_id)


def test_the_page_solves_the_challenge_and_votes_by_click_and_by_key(visit, settings):
    settings.ARENA_VOTE_POW_BITS = 10
    BattleFactory.create_batch(2)
    page = visit().open()
    expect(page.locator("[data-arena-vote] .no-js-only")).to_be_hidden()
    form = page.locator("[data-arena-vote]")
    first = Battle.objects.get(status=Battle.Status.SERVED)
    assert form.get_attribute("data-arena-pow") == challenge_of(first)
    assert form.get_attribute("data-arena-pow-bits") == "10"
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("button", name="A 更好").click()
    expect(page.locator(".verdict-stated")).to_contain_text("A 更好")
    assert Vote.objects.get().battle_id == first.pk

    page.get_by_role("link", name="下一场").click()  # fetched: the new battle's page brings its challenge
    expect(form).to_be_visible()
    second = Battle.objects.get(status=Battle.Status.SERVED)
    assert form.get_attribute("data-arena-pow") == challenge_of(second)
    page.keyboard.press("2")
    expect(page.locator(".verdict-stated")).to_contain_text("B 更好")
    assert page.evaluate("window.stillTheSamePage") is True
    assert sorted(Vote.objects.values_list("battle_id", "outcome")) == [(first.pk, "a"), (second.pk, "b")]


def test_a_verdict_chosen_before_the_check_ends_waits_for_it(visit, settings):
    settings.ARENA_VOTE_POW_BITS = 10
    BattleFactory()
    browser = visit()
    browser.page.add_init_script(HOLD_THE_TIMERS)
    page = browser.open()
    page.get_by_role("button", name="A 更好").click()
    checking = page.locator("[data-arena-vote]").get_attribute("data-arena-pow-checking")
    expect(page.locator("[data-arena-vote] [data-arena-notice]")).to_have_text(checking)
    expect(page.get_by_role("button", name="B 更好")).to_be_disabled()
    expect(page.get_by_role("button", name="A 更好")).to_have_attribute("aria-pressed", "true")
    browser.screenshot("desktop-battle-checking")
    assert not Vote.objects.exists()

    page.evaluate("window.arenaHeld = false")
    expect(page.locator(".verdict-stated")).to_contain_text("A 更好")
    assert Vote.objects.get().outcome == "a"


def test_without_javascript_the_page_says_voting_needs_it_and_no_vote_counts(visit, settings):
    settings.ARENA_VOTE_POW_BITS = 10
    battle = BattleFactory()
    page = visit(javascript=False).open()
    expect(page.locator("[data-arena-vote] .no-js-only")).to_be_visible()
    page.get_by_role("button", name="A 更好").click()  # a plain form POST, without a solution
    expect(page.locator("[data-arena-notice]")).to_contain_text("JavaScript")
    assert not Vote.objects.exists()
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.SERVED
