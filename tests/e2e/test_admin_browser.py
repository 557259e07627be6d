"""The staff admin in a real browser: a 1280-pixel screen shows every column of the main lists
without scrolling sideways, in Chinese and in English (screenshots for a person to look at)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from battles.models import AnswerAttempt, Battle, Vote
from ratings.services import ratings_refresh
from tests.e2e.conftest import DESKTOP
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Names as long as real ones get.
CONTENDERS = [
    ("Meta-Llama-3.1-405B-Instruct-Turbo", "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo"),
    ("DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
    ("Qwen2.5-72B-Instruct", "accounts/fireworks/models/qwen2p5-72b-instruct"),
    ("通义千问-Max-2025-01-25", "qwen-max-2025-01-25"),
]
QUESTION = (
    "请用通俗易懂的语言解释为什么天空是蓝色的，并说明日落时天空为什么会变成橙红色，"
    "最好能举一个生活中的例子来帮助理解这个现象背后的物理原理。"
)
LISTS = [
    "battles/contender",
    "battles/question",
    "battles/answer",
    "battles/answerattempt",
    "battles/battle",
    "battles/vote",
    "battles/voter",
    "ratings/ratingsnapshot",
    "ratings/contenderrating",
    "ratings/paircount",
]


def realistic_rows() -> None:
    category = CategoryFactory(code="REASONING", name="逻辑推理与数学计算")
    contenders = [
        ContenderFactory(name=name, model_id=model_id, last_success_at=timezone.now())
        for name, model_id in CONTENDERS
    ]
    paused = contenders[0]
    paused.consecutive_failures = 5
    paused.paused_until = timezone.now() + dt.timedelta(seconds=20)
    paused.paused_reason = "5 failures in a row; the last: HTTP 503 from https://api.example.com/v1"
    paused.server_slots = 4
    paused.save()
    now = timezone.now()
    for number in range(24):
        first, second = contenders[number % 4], contenders[(number + 1) % 4]
        question = QuestionFactory(text=f"{QUESTION}（第 {number + 1} 题）", category=category, language="zh")
        voter = VoterFactory()
        battle = BattleFactory(
            question=question,
            contender_a=first,
            contender_b=second,
            answer_a=AnswerFactory(question=question, contender=first, latency_ms=12_345),
            answer_b=AnswerFactory(question=question, contender=second, latency_ms=987),
            status=Battle.Status.VOTED,
            voter=voter,
            served_at=now,
            voted_at=now,
        )
        VoteFactory(
            battle=battle,
            voter=voter,
            contender_a=first,
            contender_b=second,
            category=category,
            outcome=Vote.Outcome.BOTH_BAD,
            decision_ms=123_456,
        )
        AnswerAttempt.objects.create(
            answer=battle.answer_a,
            number=1,
            started_at=now,
            finished_at=now,
            outcome=AnswerAttempt.Outcome.RETRYABLE_ERROR,
            status_code=503,
            latency_ms=30_000,
            error="HTTP 503 from https://api.example.com/v1/chat/completions: upstream overloaded, try later",
        )
    ratings_refresh(category=category)
    ratings_refresh()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_main_lists_fit_a_1280_pixel_screen(visit, settings, django_user_model, language):
    settings.ARENA_BOOTSTRAP_ROUNDS = 10
    realistic_rows()
    django_user_model.objects.create_superuser("staff", "staff@example.org", "a-long-password-for-staff")
    browser = visit(viewport=DESKTOP)
    browser.context.add_cookies([{"name": "arena_language", "value": language, "url": browser.base_url}])
    page = browser.open("/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "a-long-password-for-staff")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text(
        "Arena 管理" if language == "zh-hans" else "Arena administration"
    )
    for path in LISTS:
        page = browser.open(f"/admin/{path}/")
        expect(page.locator("#result_list tbody tr").first).to_be_visible()
        results = page.locator("#changelist .results")
        widths = results.evaluate("element => [element.scrollWidth, element.clientWidth]")
        browser.screenshot(f"admin-{path.replace('/', '-')}-{language}")
        assert widths[0] <= widths[1], f"{path} scrolls sideways: {widths}"
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], path
