"""The staff dashboard in a real browser: logged in through the admin's form, zh-Hans and English,
desktop and phone, with screenshots."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from battles.services.tallies import vote_rejection_count, votes_tally
from ratings.services import ratings_refresh
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import AnswerFactory, ContenderFactory, QuestionFactory, VoteFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def an_arena_with_troubles() -> None:
    now = timezone.now()
    models = [ContenderFactory(name=name) for name in ("通义千问-Max", "DeepSeek-V3", "Llama-3-70B", "GLM-4")]
    models[2].paused_until = now + dt.timedelta(minutes=4)
    models[2].paused_reason = "5 failures in a row: HTTP 503 from http://llama.internal:8000/v1"
    models[2].consecutive_failures = 5
    models[2].last_error = "HTTP 503 from http://llama.internal:8000/v1: upstream unavailable"
    models[2].last_failure_at = now
    models[2].save()
    for index, contender in enumerate(models):
        for step in range(12):
            AnswerFactory(
                contender=contender,
                question=QuestionFactory(),
                finished_at=now - dt.timedelta(minutes=7 * step + index),
                latency_ms=1_500 + 900 * step + 300 * index,
                first_token_ms=120 + 40 * step,
                completion_tokens=180 + 20 * step,
            )
    for step in range(40):
        VoteFactory(contender_a=models[step % 4], contender_b=models[(step % 4 + 1 + step // 4 % 3) % 4])
    for code in ["too_early"] * 3 + ["ip_rate"]:
        vote_rejection_count(code=code)
    votes_tally()
    ratings_refresh()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_dashboard_in_chinese_and_english(visit, viewport):
    an_arena_with_troubles()
    get_user_model().objects.create_superuser("operator", password="a-long-password-1")
    size = "desktop" if viewport is DESKTOP else "phone"
    browser = visit(viewport=viewport)
    page = browser.open("/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-password-1")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/dashboard/")

    expect(page.locator("#alerts-title")).to_have_text("警报")
    first_alert = page.locator(".alert").first
    expect(first_alert).to_have_attribute("data-alert-level", "critical")
    expect(page.locator(".alert-critical", has_text="Llama-3-70B")).to_be_visible()
    expect(page.locator("tr[data-contender='通义千问-Max']")).to_contain_text("12 / 0")
    assert page.locator("svg.bar-chart rect").count() == 48 + 90
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browser.screenshot(f"{size}-dashboard-zh")

    browser.context.add_cookies([{"name": "arena_language", "value": "en", "url": browser.base_url}])
    page.reload()
    expect(page.locator("#alerts-title")).to_have_text("Alerts")
    expect(page.locator(".alert-critical", has_text="Llama-3-70B is paused until")).to_be_visible()
    expect(page.locator("tr[data-rejection='too_early']")).to_contain_text("3")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browser.screenshot(f"{size}-dashboard-en")
