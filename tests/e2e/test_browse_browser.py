"""Browse mode in a real browser: from the leaderboard to a model's answers, two answers side by side
with their names, another model chosen on a side, a signed verdict saved; with and without JavaScript,
on a desk and on a phone, in both languages. Screenshots go to test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import expect

from battles.models import BrowseVerdict, Vote
from ratings.services import ratings_refresh
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import (
    AnswerFactory,
    CategoryFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoteFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_ANSWER = "造纸术的改进者是东汉的蔡伦。\n\n" + "\n\n".join(
    f"第 {n} 段：纸张的制作步骤与影响。" for n in range(1, 9)
)


def _bank():
    category = CategoryFactory(code="HIST", name="历史", name_en="History")
    sage, brief, third = (
        OfflineContenderFactory(name=name) for name in ("Sage 模型", "Brief 模型", "Third 模型")
    )
    questions = [
        QuestionFactory(text=f"第 {n} 题：谁改进了造纸术？", category=category, language="zh")
        for n in range(1, 4)
    ]
    for question in questions:
        AnswerFactory(question=question, contender=sage, text=LONG_ANSWER)
        AnswerFactory(question=question, contender=brief, text="蔡伦。")
        AnswerFactory(question=question, contender=third, text="是蔡伦，东汉时期。")
    VoteFactory(contender_a=sage, contender_b=brief, category=category)
    VoteFactory(contender_a=third, contender_b=brief, category=category)
    ratings_refresh()
    return sage, brief, third, questions


def _fits(page, viewport) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.mark.parametrize(
    ("viewport", "language"), [(PHONE, "zh-hans"), (DESKTOP, "en")], ids=["phone-zh", "desktop-en"]
)
def test_from_the_board_to_two_named_answers_and_a_signed_verdict(visit, viewport, language):
    sage, _brief, third, _questions = _bank()
    browser = visit(viewport=viewport, touch=viewport is PHONE)
    browser.context.add_cookies([{"name": "arena_language", "value": language, "url": browser.base_url}])
    english = language == "en"
    size = "phone" if viewport is PHONE else "desktop"
    page = browser.open("/leaderboard/")
    page.locator(f"#contender-{third.pk} th a").click()  # a model's name leads to its answers
    expect(page.locator(".browse-list li")).to_have_count(3)
    expect(page.locator("select[name=model] option:checked")).to_have_text("Third 模型")
    expect(page.locator(".browse-list .meta").first).to_contain_text("History" if english else "历史")
    _fits(page, viewport)
    browser.screenshot(f"{size}-browse-list-{language}")
    page.locator(".browse-list a").first.click()
    expect(page.locator("#answer-a-heading")).to_contain_text("Third 模型")
    expect(page.locator("#answer-b-heading")).to_contain_text("Brief 模型")
    # Choosing another model on side B shows it at once (no button to press with JavaScript on).
    expect(page.locator(".browse-pair button")).to_be_hidden()
    page.locator("select[name=b]").select_option(label="Sage 模型")
    expect(page.locator("#answer-b-heading")).to_contain_text("Sage 模型")
    expect(page.locator("#answer-b-heading a")).to_have_attribute(
        "href", f"/leaderboard/#contender-{sage.pk}"
    )
    assert f"b={sage.pk}" in page.url
    if viewport is PHONE:  # the long answer is read in full, one answer above the other
        boxes = [page.locator(".answer-body").nth(index).bounding_box() for index in range(2)]
        assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"]
    _fits(page, viewport)
    page.get_by_label("Sage 模型 is better" if english else "Sage 模型 更好").check()
    page.get_by_label("Your name" if english else "你的署名", exact=True).fill("Lin Wei")
    page.get_by_label("Why? (optional)" if english else "为什么？（可选）").fill("更完整")
    page.get_by_role("button", name="Save my verdict" if english else "保存我的判断").click()
    expect(page.locator(".saved")).to_be_visible()
    expect(page.locator(".verdict-list li")).to_have_count(1)
    expect(page.locator(".verdict-list li")).to_contain_text("Lin Wei")
    expect(page.locator(".verdict-list li")).to_contain_text(
        "Sage 模型 is better" if english else "Sage 模型 更好"
    )
    _fits(page, viewport)
    browser.screenshot(f"{size}-browse-question-{language}")
    verdict = BrowseVerdict.objects.get()
    assert (
        verdict.answer_a.contender == third and verdict.answer_b.contender == sage and verdict.outcome == "b"
    )
    assert Vote.objects.count() == 2  # the two cast before: a signed verdict is not a vote


def test_browse_mode_works_without_javascript(visit):
    questions = _bank()[3]
    browser = visit(javascript=False)
    page = browser.open("/browse/")
    page.locator("select[name=category]").select_option("HIST")
    page.get_by_label("题目中的文字").fill("第 2 题")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator(".browse-list li")).to_have_count(1)
    page.locator(".browse-list a").click()
    page.locator("select[name=a]").select_option(label="Third 模型")
    page.get_by_role("button", name="比较").click()
    expect(page.locator("#answer-a-heading")).to_contain_text("Third 模型")
    page.get_by_label("平局").check()
    page.get_by_role("button", name="保存我的判断").click()  # no name: the browser asks for one
    assert not BrowseVerdict.objects.exists()
    page.get_by_label("你的署名", exact=True).fill("Zhao")
    page.get_by_role("button", name="保存我的判断").click()
    expect(page.locator(".verdict-list li")).to_contain_text("Zhao")
    expect(page.locator(".verdict-list li")).to_contain_text("平局")
    assert BrowseVerdict.objects.get().question == questions[1]


def test_the_reveal_leads_to_the_same_two_answers_in_browse_mode(visit):
    from tests.factories import BattleFactory

    sage, brief, _third, questions = _bank()
    battle = BattleFactory(
        question=questions[0],
        contender_a=sage,
        contender_b=brief,
        answer_a=questions[0].answers.get(contender=sage),
        answer_b=questions[0].answers.get(contender=brief),
    )
    browser = visit()
    page = browser.open()
    page.get_by_role("button", name="B 更好").click()
    expect(page.locator(".verdict-stated")).to_be_visible()
    page.locator(".browse-more a").click()
    expect(page.locator(".question-text")).to_contain_text("第 1 题")
    expect(page.locator("#answer-a-heading")).to_contain_text("Sage 模型")
    expect(page.locator("#answer-b-heading")).to_contain_text("Brief 模型")
    assert battle.question_id == questions[0].pk
