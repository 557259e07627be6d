"""The voting pages in a real browser: Playwright driving the system Chromium against a live server.

Screenshots are saved under test-artifacts/screenshots/ for a person to look at.
"""

import re
import time

import pytest
from playwright.sync_api import expect

from battles.models import Answer, Battle, Vote
from battles.rendering import render_markdown
from ratings.services import ratings_refresh
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoteFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKDOWN_ANSWER = """光在大气中发生**瑞利散射**：

| 颜色 | 波长 |
|---|---|
| 蓝 | 约 450 nm |
| 红 | 约 700 nm |

- 波长越短，散射越强
- 所以白天的天空是蓝色

```python
def scattering(wavelength_nm: float) -> float:
    return 1 / wavelength_nm ** 4
```
"""


def ready_battles(
    count: int, *, answer_a: str = MARKDOWN_ANSWER, answer_b: str = "简短的回答。"
) -> list[Battle]:
    sage, brief = OfflineContenderFactory(name="Sage 模型"), OfflineContenderFactory(name="Brief 模型")
    battles = []
    for number in range(count):
        question = QuestionFactory(text=f"为什么天空是蓝色的？（第 {number + 1} 题）", language="zh")
        battles.append(
            BattleFactory(
                question=question,
                contender_a=sage,
                contender_b=brief,
                answer_a=AnswerFactory(
                    question=question, contender=sage, text=answer_a, html=render_markdown(answer_a)
                ),
                answer_b=AnswerFactory(
                    question=question, contender=brief, text=answer_b, html=render_markdown(answer_b)
                ),
            )
        )
    return battles


def test_vote_by_click_reveal_and_next_without_reloading(visit):
    ready_battles(2)
    browser = visit()
    page = browser.open()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator(".question-text")).to_contain_text("为什么天空是蓝色的")
    expect(page.locator(".answer-body table")).to_be_visible()
    expect(page.locator(".answer-body pre code .hl-k").first).to_have_text("def")
    expect(page.locator("body")).not_to_contain_text("Sage 模型")  # names stay hidden
    browser.screenshot("desktop-battle-zh")
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("button", name="A 更好").click()
    expect(page).to_have_title(re.compile("感谢投票"))
    expect(page.locator(".answers")).to_contain_text("Sage 模型")
    expect(page.locator(".answers")).to_contain_text("Brief 模型")
    expect(page.locator(".verdict-stated")).to_contain_text("A 更好")
    assert page.evaluate("window.stillTheSamePage") is True  # no full reload
    assert page.url.endswith(f"/battles/{Vote.objects.get().battle_id}/")
    browser.screenshot("desktop-reveal-zh")

    page.get_by_role("link", name="下一场").click()
    expect(page.locator("[data-arena-vote]")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    assert Battle.objects.filter(status=Battle.Status.SERVED).count() == 1
    assert Vote.objects.get().outcome == "a"


def test_vote_and_move_on_by_keyboard(visit):
    ready_battles(2)
    page = visit().open()
    expect(page.locator("button.verdict-b kbd")).to_have_text("2")
    page.keyboard.press("2")
    expect(page.locator(".verdict-stated")).to_contain_text("B 更好")
    page.keyboard.press("n")
    expect(page.locator("[data-arena-vote]")).to_be_visible()
    page.keyboard.press("3")
    expect(page.locator(".verdict-stated")).to_contain_text("平局")
    assert sorted(Vote.objects.values_list("outcome", flat=True)) == ["b", "tie"]


def test_the_whole_flow_works_without_javascript(visit):
    ready_battles(2)
    browser = visit(javascript=False)
    page = browser.open()
    page.get_by_role("button", name="都不好").click()  # a plain form POST, then a 303 to the reveal page
    expect(page.locator(".verdict-stated")).to_contain_text("都不好")
    page.get_by_label("为什么？（可选）").fill("两个回答都没有解释原因")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".reason [data-arena-notice]")).to_contain_text("已保存")
    browser.screenshot("nojs-reveal-zh")
    page.get_by_role("link", name="下一场").click()
    expect(page.locator("[data-arena-vote]")).to_be_visible()
    vote = Vote.objects.get()
    assert (vote.outcome, vote.reason) == ("both_bad", "两个回答都没有解释原因")


def test_phone_viewport_stacks_the_answers(visit):
    ready_battles(1)
    browser = visit(viewport=PHONE)
    page = browser.open()
    first = page.locator(".answer").nth(0).bounding_box()
    second = page.locator(".answer").nth(1).bounding_box()
    assert second["y"] >= first["y"] + first["height"]  # stacked, not side by side
    assert first["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    buttons = page.locator(".verdict")
    assert all(buttons.nth(index).bounding_box()["height"] >= 44 for index in range(4))  # finger-sized
    browser.screenshot("phone-battle-zh")
    page.get_by_role("button", name="B 更好").click()
    expect(page.locator(".answers")).to_contain_text("Brief 模型")
    browser.screenshot("phone-reveal-zh")


def test_english_is_one_click_away_and_remembered(visit):
    ready_battles(2)
    browser = visit()
    page = browser.open()
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="A is better")).to_be_visible()
    expect(page.locator(".question-text")).to_contain_text("为什么天空是蓝色的")  # as written
    browser.screenshot("desktop-battle-en")
    page.reload()
    expect(page.get_by_role("button", name="Tie")).to_be_visible()
    page.goto(browser.base_url + "/leaderboard/")
    expect(page.locator("h1")).to_have_text("Leaderboard")
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("h1")).to_have_text("排行榜")


def test_waiting_state_updates_itself_when_a_battle_is_ready(visit):
    browser = visit()
    page = browser.open()
    expect(page.locator("[data-arena-waiting] h1")).to_have_text("正在准备下一场对战")
    browser.screenshot("desktop-waiting-zh")
    ready_battles(1)
    expect(page.locator("[data-arena-vote]")).to_be_visible(timeout=10_000)


def test_hostile_answers_do_not_run(visit):
    payload = (
        "<script>window.pwned = 'script'</script>\n\n"
        '<img src="x" onerror="window.pwned = \'onerror\'">\n\n'
        "[click me](javascript:window.pwned='link')\n\n"
        "![remote](http://tracker.example/pixel.png)\n\n"
        '<a href="#" onclick="window.pwned=\'onclick\'">x</a>'
    )
    ready_battles(1, answer_b=payload)
    browser = visit()
    page = browser.open()
    page.get_by_text("click me").click()
    time.sleep(0.3)
    assert page.evaluate("window.pwned") is None
    assert browser.dialogs == []
    assert page.locator(".answer-body script, .answer-body img, .answer-body [onclick]").count() == 0
    expect(page.locator(".answer-body").nth(1)).to_contain_text("<script>window.pwned")  # shown as text
    browser.screenshot("desktop-hostile-answer")


def test_a_vote_too_soon_is_refused_politely_in_place(visit, settings):
    settings.ARENA_VOTE_MIN_SECONDS = 60
    ready_battles(1)
    page = visit().open()
    page.get_by_role("button", name="A 更好").click()
    expect(page.locator("[data-arena-vote] [data-arena-notice]")).to_contain_text("请先花点时间读完两个回答")
    expect(page.get_by_role("button", name="A 更好")).to_be_enabled()
    assert not Vote.objects.exists()


def test_the_page_is_light(visit):
    ready_battles(1, answer_a="短。", answer_b="也短。")
    browser = visit()
    page = browser.page
    sizes: list[int] = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    browser.open()
    page.wait_for_load_state("networkidle")
    assert 0 < sum(sizes) < 200 * 1024, sizes
    assert Answer.objects.count() == 2


def _in_view(box: dict, viewport: dict) -> bool:
    return (
        box["y"] >= 0
        and box["y"] + box["height"] <= viewport["height"]
        and box["x"] + box["width"] <= viewport["width"]
    )


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_verdicts_are_on_screen_while_the_answers_are_read(visit, viewport):
    long_answer = "\n\n".join(
        f"第 {number} 段：" + "光在大气中散射，波长越短散射越强。" * 4 for number in range(30)
    )
    ready_battles(1, answer_a=long_answer, answer_b=long_answer)
    browser = visit(viewport=viewport, touch=viewport is PHONE)
    page = browser.open()
    buttons = page.locator(".verdict")
    # Reachable without scrolling, with the question on screen too; and still there once the reader
    # is halfway down the answers.
    assert all(_in_view(buttons.nth(index).bounding_box(), viewport) for index in range(4))
    assert _in_view(page.locator(".question-text").bounding_box(), viewport)
    page.evaluate("window.scrollBy(0, 3000)")
    page.wait_for_function("window.scrollY > 0")
    assert all(_in_view(buttons.nth(index).bounding_box(), viewport) for index in range(4))
    if viewport is PHONE:
        # On a phone both answers are read in full by scrolling the page (no panel scrolling inside
        # the page), and the keyboard's hints are not shown on a touch screen.
        body = page.locator(".answer-body").first
        assert body.evaluate("element => element.scrollHeight <= element.clientHeight + 1")
        expect(page.locator(".keys-hint")).to_be_hidden()
        expect(page.locator(".verdict kbd").first).to_be_hidden()
        browser.screenshot("phone-battle-scrolled-zh")
    else:
        # On a desk each answer scrolls in its panel, which says so with a shadow at its edge.
        body = page.locator(".answer-body").first
        assert body.evaluate("element => element.scrollHeight > element.clientHeight")
        assert "radial-gradient" in body.evaluate("element => getComputedStyle(element).backgroundImage")
        expect(page.locator(".keys-hint")).to_be_visible()


def test_the_four_verdicts_look_alike_and_the_chosen_one_is_marked(visit):
    ready_battles(1)
    browser = visit()
    page = browser.open()
    looks = page.locator(".verdict").evaluate_all(
        """buttons => buttons.map(button => {
            const style = getComputedStyle(button);
            return [style.backgroundColor, style.color, style.borderColor, style.fontWeight, style.fontSize,
                    button.getBoundingClientRect().height];
        })"""
    )
    assert len(looks) == 4 and all(look == looks[0] for look in looks), looks
    # The button pressed is marked (aria-pressed, filled) while the vote is being saved.
    page.evaluate(
        """document.querySelector("[data-arena-vote]").addEventListener("submit", () => {
            const pressed = document.querySelector(".verdict[aria-pressed='true']");
            window.pressedVerdict = pressed && pressed.value;
            window.pressedBackground = pressed && getComputedStyle(pressed).backgroundColor;
        })"""
    )
    page.get_by_role("button", name="平局").click()
    expect(page.locator(".answers")).to_contain_text("Brief 模型")
    assert page.evaluate("window.pressedVerdict") == "tie"
    assert page.evaluate("window.pressedBackground") != looks[0][0]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_reveal_puts_the_names_on_the_answers_without_moving_them(visit, viewport):
    battles = ready_battles(2)
    OfflineContenderFactory._meta.model.objects.filter(pk=battles[0].contender_b_id).update(
        description="A brief model that answers in one sentence."
    )
    browser = visit(viewport=viewport, touch=viewport is PHONE)
    page = browser.open()
    page.evaluate("window.scrollBy(0, 200)")  # the phone's page scrolls; the desk's may not
    scrolled = page.evaluate("window.scrollY")
    bodies = page.locator(".answer-body")
    before = [bodies.nth(index).bounding_box() for index in range(2)]
    page.get_by_role("button", name="平局").click()
    expect(page.locator(".verdict-stated")).to_contain_text("Sage 模型 与 Brief 模型 打成平局。")
    after = [bodies.nth(index).bounding_box() for index in range(2)]
    assert page.evaluate("window.scrollY") == scrolled > (0 if viewport is PHONE else -1)
    # Same place, same size: only the labels gained the names.
    assert [(box["x"], round(box["y"]), box["width"]) for box in after] == [
        (box["x"], round(box["y"]), box["width"]) for box in before
    ]
    expect(page.locator("#answer-a-heading")).to_contain_text("Sage 模型")
    expect(page.locator("#answer-b-heading")).to_contain_text("Brief 模型")
    expect(page.locator(".result-badge")).to_have_count(2)
    expect(page.locator(".result-tie .result-badge").first).to_have_text("平局")
    expect(page.locator(".model-description")).to_have_text("A brief model that answers in one sentence.")
    link = page.locator("#answer-b-heading a")
    assert link.get_attribute("href") == f"/leaderboard/#contender-{battles[0].contender_b_id}"
    # The next battle is one tap away, on screen.
    next_battle = page.locator("[data-arena-next]")
    assert _in_view(next_battle.bounding_box(), viewport)
    if viewport is PHONE:
        expect(next_battle.locator("kbd")).to_be_hidden()  # no keyboard on a touch screen
    browser.screenshot(f"{'phone' if viewport is PHONE else 'desktop'}-reveal-tie-zh")
    next_battle.click()
    expect(page.locator(".question-text")).to_contain_text("第 2 题")


def test_the_winner_is_marked_in_words_and_on_its_answer(visit):
    ready_battles(1)
    browser = visit()
    page = browser.open()
    page.get_by_role("button", name="A 更好").click()
    expect(page.locator(".verdict-stated")).to_contain_text("A 更好 · Sage 模型 胜过 Brief 模型。")
    expect(page.locator(".answer.result-won")).to_contain_text("Sage 模型")
    expect(page.locator(".result-won .result-badge")).to_have_text("胜出")
    expect(page.locator(".result-lost .result-badge")).to_have_count(0)


def test_english_shows_categories_by_their_english_names(visit):
    battle = ready_battles(1)[0]
    category = battle.question.category
    category.name, category.name_en = "知识问答", "Knowledge"
    category.save()
    battle.question.language, battle.question.text_en = "zh", "Why is the sky blue? (question 1)"
    battle.question.save()
    VoteFactory(category=category, contender_a=battle.contender_a, contender_b=battle.contender_b)
    ratings_refresh()
    ratings_refresh(category=category)
    browser = visit()
    page = browser.open()
    expect(page.locator("#question-heading")).to_contain_text("知识问答")
    page.get_by_role("button", name="English").click()
    expect(page.locator("#question-heading")).to_contain_text("Knowledge")
    # A question's translation, where the bank gives one, under the question the models answered.
    expect(page.locator(".question-translation")).to_have_text(
        "Translation: Why is the sky blue? (question 1)"
    )
    expect(page.locator(".question-translation")).to_have_attribute("lang", "en")
    page.goto(browser.base_url + "/leaderboard/")
    expect(page.locator(".board-tabs")).to_contain_text("Knowledge")
    expect(page.locator(".board-tabs")).not_to_contain_text("知识问答")
    # English text in a Latin font first (its quotes half-width), Chinese text in a Chinese one.
    fonts = page.evaluate("getComputedStyle(document.documentElement).fontFamily")
    assert fonts.index("Arial") < fonts.index("WenQuanYi Micro Hei")
    browser.screenshot("desktop-leaderboard-categories-en")
