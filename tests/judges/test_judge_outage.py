"""A judge's endpoint goes away and comes back, with a real worker: its calls fail and are retried,
the judge is paused like any contender and probed, and once it answers every verdict is done exactly
once (one successful call each), none lost."""

import pytest

from battles.models import Contender
from judges.models import JudgeDay, Verdict
from judges.services.judges import judge_save
from judges.services.scheduling import verdicts_schedule
from tests.factories import OfflineContenderFactory
from tests.judges.judge_server import JudgeScript, judge_endpoint
from tests.judges.test_judge_pages import _battle, _vote
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEXTS = {"Xenon": "A long and careful answer.", "Yttrium": "Short."}


def test_a_judge_outage_pauses_the_judge_and_every_verdict_is_done_once_it_is_back():
    from battles.models import Vote
    from tests.factories import CategoryFactory, ContenderFactory

    category = CategoryFactory(code="QA")
    x, y = OfflineContenderFactory(name="Xenon"), OfflineContenderFactory(name="Yttrium")
    battles = [_battle(x, y, category, number) for number in range(1, 5)]
    for battle in battles:
        _vote(battle, Vote.Outcome.A)
    script = JudgeScript(replies={}, down=True)
    judged: list[int] = []
    script.reply = lambda body: judged.append(1) or "[[A>B]]"  # type: ignore[method-assign]
    with judge_endpoint(script) as url:
        contender = ContenderFactory(name="Judge", base_url=url, stream=False, sampling_weight=0)
        judge, _ = judge_save(contender=contender, daily_call_budget=1000)
        settings = {
            "ARENA_POOL_TARGET": "0",
            "ARENA_GENERATION_RETRY_BASE_SECONDS": "0.2",
            "ARENA_GENERATION_RETRY_MAX_SECONDS": "1",
            "ARENA_GENERATION_MAX_ATTEMPTS": "50",
            "ARENA_CONTENDER_PROBE_FIRST_SECONDS": "0.5",
            "ARENA_CONTENDER_PROBE_MAX_SECONDS": "1",
        }
        with worker_process(**settings):
            assert verdicts_schedule().created == {judge.pk: 8}
            wait_until(
                lambda: Contender.objects.get(pk=contender.pk).paused_until,
                timeout_seconds=60,
                message="no pause",
            )
            paused = Contender.objects.get(pk=contender.pk)
            assert paused.paused_reason.startswith("5 failures in a row; the last: HTTP 503 from ")
            assert not Verdict.objects.filter(status=Verdict.Status.DONE).exists()
            script.down = False  # back
            wait_until(
                lambda: Verdict.objects.filter(status=Verdict.Status.DONE).count() == 8,
                timeout_seconds=90,
                message="verdicts not done after the endpoint came back",
            )
            # The probe (a real request) finds the endpoint back and restores the judge.
            wait_until(
                lambda: Contender.objects.get(pk=contender.pk).paused_until is None,
                timeout_seconds=60,
                message="the judge was never restored",
            )
    assert set(Verdict.objects.values_list("status", "score", "label")) == {
        ("done", 1, "A>B"),
        ("done", -1, "A>B"),
    }
    assert len(judged) == 8  # one successful call per verdict
    assert script.requests_while_down >= 5
    # Every call made for a verdict, failed or not, was taken from the day's budget (probes are not).
    attempts = sum(Verdict.objects.values_list("attempts", flat=True))
    assert attempts > 8 and JudgeDay.objects.get(judge=judge).calls == attempts
