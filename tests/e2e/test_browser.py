"""The voting pages in a real browser: Playwright driving the system Chromium against a live server.

Screenshots are saved under test-artifacts/screenshots/ for a person to look at.
"""

import time

import pytest
from playwright.sync_api import expect

from battles.models import Answer, Battle, Vote
from battles.rendering import render_markdown
from tests.e2e.conftest import PHONE
from tests.factories import AnswerFactory, BattleFactory, OfflineContenderFactory, QuestionFactory

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
    expect(page.locator("#reveal-heading")).to_have_text("感谢投票")
    expect(page.locator(".names")).to_contain_text("Sage 模型")
    expect(page.locator(".names")).to_contain_text("Brief 模型")
    expect(page.locator(".verdict-given")).to_contain_text("A 更好")
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
    expect(page.locator(".verdict-given")).to_contain_text("B 更好")
    page.keyboard.press("n")
    expect(page.locator("[data-arena-vote]")).to_be_visible()
    page.keyboard.press("3")
    expect(page.locator(".verdict-given")).to_contain_text("平局")
    assert sorted(Vote.objects.values_list("outcome", flat=True)) == ["b", "tie"]


def test_the_whole_flow_works_without_javascript(visit):
    ready_battles(2)
    browser = visit(javascript=False)
    page = browser.open()
    page.get_by_role("button", name="都不好").click()  # a plain form POST, then a 303 to the reveal page
    expect(page.locator(".verdict-given")).to_contain_text("都不好")
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
    expect(page.locator(".names")).to_contain_text("Brief 模型")
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
