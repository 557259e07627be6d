"""The dashboard's LLM judges section and its alerts."""

import re

import pytest
from django.utils import timezone

from judges.models import JudgeDay
from judges.services.judges import judge_save
from tests.factories import BattleFactory, ContenderFactory
from tests.judges.helpers import verdict_make

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"


def _verdicts(judge, status: str, count: int, *, finished: bool = True) -> None:
    for _ in range(count):
        verdict_make(
            judge,
            BattleFactory(),
            "shown",
            status=status,
            score=1 if status == "done" else None,
            finished_at=timezone.now() if finished else None,
        )


def _row(html: str, judge_id: int) -> list[str]:
    row = re.search(rf'<tr data-judge="{judge_id}">(.*?)</tr>', html, re.S)
    assert row is not None
    return [
        re.sub(r"<[^>]+>|\s+", " ", cell).strip()
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row[1], re.S)
    ]


def test_no_judge_yet_says_how_to_add_one(staff):
    html = staff.get(URL).content.decode()
    assert "No LLM judge yet: make an endpoint contender a judge" in html
    assert 'href="/admin/judges/judge/add/"' in html


def test_each_judge_shows_its_calls_queue_day_and_the_alerts_it_needs(staff):
    thrifty, _ = judge_save(contender=ContenderFactory(name="Thrifty"), daily_call_budget=10)
    rambling, _ = judge_save(contender=ContenderFactory(name="Rambling"), daily_call_budget=1000)
    JudgeDay.objects.create(judge=thrifty, day=timezone.now().date(), calls=10)
    JudgeDay.objects.create(judge=rambling, day=timezone.now().date(), calls=40)
    _verdicts(thrifty, "done", 8)
    _verdicts(thrifty, "pending", 3, finished=False)
    _verdicts(rambling, "done", 14)
    _verdicts(rambling, "unparseable", 6)
    _verdicts(rambling, "failed", 1)
    html = staff.get(URL).content.decode()

    assert _row(html, thrifty.pk) == [
        "Thrifty",
        "budget spent for today",
        "10 / 10",
        "3",
        "8 / 0 / 0",
        "—",
        "—",
    ]
    assert _row(html, rambling.pk) == ["Rambling", "judging", "40 / 1000", "0", "14 / 6 / 1", "—", "—"]
    assert (
        "Thrifty has spent its 10 calls for today; 3 verdicts wait for tomorrow (UTC). Raise its budget to "
        "judge them sooner."
    ) in html
    # 6 of 21 finished: 29% unparseable, over the 20% alert.
    assert "29% of Rambling&#x27;s verdicts of the last day were unparseable" in html


def test_a_paused_judge_raises_no_alert(staff):
    paused, _ = judge_save(contender=ContenderFactory(name="Resting"), daily_call_budget=1, is_active=False)
    JudgeDay.objects.create(judge=paused, day=timezone.now().date(), calls=1)
    _verdicts(paused, "pending", 2, finished=False)
    html = staff.get(URL).content.decode()
    assert _row(html, paused.pk)[1] == "paused by staff"
    assert "Resting has spent" not in html
