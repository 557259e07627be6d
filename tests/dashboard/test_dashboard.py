"""The staff dashboard: each alert made to happen for real and seen on the page, the contenders'
figures from their answers, and a number of queries that does not grow with the rows."""

import datetime as dt

import httpx
import pytest
import respx
from django.core import signing
from django.test import Client
from django.utils import timezone

from arena.models import WorkerHeartbeat
from battles.models import Answer, Battle, Origin, Voter
from battles.services.generation import answer_generate
from ratings.services import ratings_refresh
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
)
from tests.workers import wait_until, worker_process

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"
ENDPOINT = "http://models.test/v1/chat/completions"


def metric(staff: Client, name: str, **labels: str) -> float | None:
    """One sample of GET /metrics, as staff see it (None if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(staff.get("/metrics").content.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def alerts_of(page) -> list[tuple[str, str]]:
    """(level, text) of each alert shown, in order."""
    return [(alert.level, alert.message) for alert in page.context["alerts"]]


def test_only_staff_see_the_dashboard(django_user_model):
    assert Client().get(URL).status_code == 302
    voter = django_user_model.objects.create_user("someone", password="a-long-password-1")
    client = Client()
    client.force_login(voter)
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@respx.mock
def test_a_contender_paused_after_failures_is_a_critical_alert_linking_to_it(staff, settings):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 2
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 1
    contender = ContenderFactory(name="flaky-model", stream=False)
    respx.post(ENDPOINT).mock(return_value=httpx.Response(503, text="upstream down"))
    for _ in range(2):
        answer = AnswerFactory(contender=contender, status=Answer.Status.PENDING, text="")
        answer_generate(answer_id=answer.pk)

    page = staff.get(URL)
    critical = [text for level, text in alerts_of(page) if level == "critical"]
    assert any(text.startswith("flaky-model is paused until") for text in critical)
    html = page.content.decode()
    assert f'href="/admin/battles/contender/{contender.pk}/change/"' in html
    row = next(row for row in page.context["contenders"] if row.name == "flaky-model")
    assert (row.state, row.failed_hour, row.failed_day, row.done_day) == ("paused", 2, 2, 0)
    assert row.success_rate == 0.0 and row.consecutive_failures == 2
    assert metric(staff, "arena_contender_paused", contender="flaky-model") == 1


def test_no_worker_heard_from_is_an_alert_once_the_worker_stops(staff, settings, transactional_db):
    settings.ARENA_ALERT_WORKER_SILENT_SECONDS = 4
    silent = "No worker has been heard from for 4 s"
    with worker_process(ARENA_WORKER_HEARTBEAT_SECONDS="1"):
        wait_until(
            lambda: not any(silent in text for _, text in alerts_of(staff.get(URL))),
            timeout_seconds=30,
            message="the running worker's heartbeat on the dashboard",
        )
        page = staff.get(URL)
        assert len(page.context["workers"]) == 1 and page.context["workers"][0]["alive"]
        assert metric(staff, "arena_workers_alive") == 1
    wait_until(
        lambda: any(level == "critical" and silent in text for level, text in alerts_of(staff.get(URL))),
        timeout_seconds=30,
        message="the alert after the worker stopped",
    )
    assert metric(staff, "arena_workers_alive") == 0


def test_a_stale_snapshot_while_votes_arrive_is_an_alert(staff, settings):
    VoteFactory()
    ratings_refresh()
    stale = "Votes arrived and the leaderboard is older than"
    settings.ARENA_ALERT_SNAPSHOT_STALE_SECONDS = 0
    assert not any(stale in text for _, text in alerts_of(staff.get(URL)))  # nothing new since
    VoteFactory()  # counted, not yet on the board (no worker refreshes it here)
    assert any(stale in text for _, text in alerts_of(staff.get(URL)))
    assert metric(staff, "arena_votes_total") == 2
    assert metric(staff, "arena_snapshot_age_seconds", board="all") > 0
    settings.ARENA_ALERT_SNAPSHOT_STALE_SECONDS = 300
    assert not any(stale in text for _, text in alerts_of(staff.get(URL)))  # young enough


def test_an_unreachable_broker_is_a_critical_alert_and_its_queues_show_unreachable(staff, broker_unreachable):
    page = staff.get(URL)
    assert any(
        level == "critical" and "The broker cannot be reached" in text for level, text in alerts_of(page)
    )
    assert page.context["pool"].queues == {"celery": None, "generation": None}
    assert metric(staff, "arena_store_up", store="broker") == 0


def test_the_dashboard_shows_a_stopped_worker_apart_and_still_alerts_when_none_is_left(staff):
    now = timezone.now()
    for name, seen, stopped in [("celery@a:1", 1, None), ("celery@b:2", 600, None), ("celery@c:3", 1, 0)]:
        WorkerHeartbeat.objects.create(
            name=name,
            pid=1,
            started_at=now - dt.timedelta(hours=1),
            last_seen_at=now - dt.timedelta(seconds=seen),
            stopped_at=None if stopped is None else now,
        )
    # Working first, then the lost ones (what needs looking at), then the stopped.
    order = [worker["name"] for worker in staff.get(URL).context["workers"]]
    assert order == ["celery@a:1", "celery@b:2", "celery@c:3"]
    WorkerHeartbeat.objects.all().delete()
    WorkerHeartbeat.objects.create(
        name="celery@host:7",
        pid=7,
        started_at=now - dt.timedelta(hours=1),
        last_seen_at=now - dt.timedelta(seconds=5),
        stopped_at=now - dt.timedelta(seconds=4),
    )
    page = staff.get(URL)
    html = page.content.decode()
    assert '<tr class="stopped"><th scope="row">celery@host:7</th>' in html
    assert "· stopped" in html and "· gone" not in html
    assert metric(staff, "arena_workers_alive") == 0
    # Heard from 5 s ago, but stopped: no worker is left to do the work.
    assert any(
        level == "critical" and text.startswith("No worker has been heard from")
        for level, text in alerts_of(page)
    )


def test_queue_depths_count_the_messages_waiting(staff, settings):
    from arena.celery import app

    for _ in range(3):
        app.send_task("battles.tasks.answer_generate_task", args=[0], queue="generation")
    assert staff.get(URL).context["pool"].queues == {"celery": 0, "generation": 3}


def test_an_empty_pool_and_never_battled_rows_are_alerts(staff, settings):
    settings.ARENA_POOL_TARGET = 4
    battled, never = QuestionFactory(), QuestionFactory()
    a, b, idle = (
        ContenderFactory(name="a-model"),
        ContenderFactory(name="b-model"),
        ContenderFactory(name="idle"),
    )
    # Out of the draw on purpose: never drawn, so never being in a battle is no news.
    ContenderFactory(name="judge-only", sampling_weight=0)
    ContenderFactory(name="retired", is_retired=True)
    ContenderFactory(name="seeded", origin=Origin.SEEDED)  # benchmark data, not served by default
    BattleFactory(question=battled, contender_a=a, contender_b=b, status=Battle.Status.GENERATING)
    assert idle.name == "idle"
    texts = [text for _, text in alerts_of(staff.get(URL))]
    assert any(text.startswith("The pool is empty") for text in texts)
    assert "1 active question has never been in a battle." in texts
    assert "idle has never been in a battle." in texts
    assert not any(
        text.startswith(("a-model has", "b-model has", "judge-only has", "retired has", "seeded has"))
        for text in texts
    )
    assert never.pk not in [battle.question_id for battle in Battle.objects.all()]
    assert metric(staff, "arena_pool_battles", state="ready") == 0
    assert metric(staff, "arena_questions_never_battled") == 1
    assert metric(staff, "arena_contenders_never_battled") == 1


def test_a_contenders_figures_come_from_its_answers_of_the_last_hour_and_day(staff):
    contender = ContenderFactory(name="measured")
    now = timezone.now()
    for minutes, latency, first_token, tokens in [
        (10, 1000, 100, 50),
        (30, 2000, 200, 100),
        (300, 4000, 300, 150),
    ]:
        AnswerFactory(
            contender=contender,
            status=Answer.Status.DONE,
            finished_at=now - dt.timedelta(minutes=minutes),
            latency_ms=latency,
            first_token_ms=first_token,
            completion_tokens=tokens,
        )
    AnswerFactory(contender=contender, status=Answer.Status.FAILED, finished_at=now - dt.timedelta(hours=3))
    AnswerFactory(
        contender=contender,
        status=Answer.Status.DONE,
        finished_at=now - dt.timedelta(days=2),
        latency_ms=99_000,
    )
    AnswerFactory(contender=contender, status=Answer.Status.RUNNING, finished_at=None)

    row = next(row for row in staff.get(URL).context["contenders"] if row.name == "measured")
    assert (row.done_hour, row.failed_hour, row.done_day, row.failed_day) == (2, 0, 3, 1)
    assert row.success_rate == 0.75 and row.running == 1
    assert (row.latency_p50_ms, row.latency_p95_ms) == (2000, 3800)  # interpolated as percentile_cont
    assert (row.first_token_p50_ms, row.first_token_p95_ms) == (200, 290)
    assert row.tokens_per_second == pytest.approx(300 * 1000 / 7000)


def test_the_number_of_queries_does_not_grow_with_contenders(staff, django_assert_max_num_queries):
    def queries_for(contenders: int) -> int:
        ContenderFactory.create_batch(contenders)
        with django_assert_max_num_queries(40) as captured:
            assert staff.get(URL).status_code == 200
        return len(captured.captured_queries)

    assert queries_for(3) == queries_for(30)


def test_the_embedded_modes_figures_match_postgresqls():
    """SQLite has no percentile_cont: the embedded mode computes the same figures in Python."""
    from dashboard.selectors import _answer_stats_python, _answer_stats_sql

    now = timezone.now()
    for index, contender in enumerate(ContenderFactory.create_batch(3)):
        for step in range(7):
            AnswerFactory(
                contender=contender,
                status=Answer.Status.FAILED if step == 6 and index else Answer.Status.DONE,
                finished_at=now - dt.timedelta(minutes=25 * step + index),
                latency_ms=900 + 370 * step * (index + 1),
                first_token_ms=None if step == 2 else 40 * step,
                completion_tokens=None if step == 3 else 30 + step,
            )
    python, sql = _answer_stats_python(now), _answer_stats_sql(now)
    assert python.keys() == sql.keys() and len(sql) == 3
    for contender_id, figures in sql.items():
        assert python[contender_id] == pytest.approx(figures)


def test_refused_votes_over_the_share_are_an_alert_and_counted_by_reason(staff, settings):
    from battles.services.tallies import votes_tally

    battle = BattleFactory(status=Battle.Status.READY)
    refused = Client()
    voter = Voter.objects.create()
    refused.cookies["arena_voter"] = signing.get_cookie_signer(salt="arena_voter" + "arena.voter").sign(
        str(voter.pk)
    )
    for _ in range(15):  # votes on a battle never served to this voter
        assert refused.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"}).status_code == 403
    for _ in range(10):
        VoteFactory()
    votes_tally()
    page = staff.get(URL)
    assert page.context["votes"].rejections == [("not_served_to_voter", 15)]
    assert page.context["votes"].rejected_share == 0.6
    assert any(
        level == "warning" and text.startswith("60% of the votes of the last hour were refused")
        for level, text in alerts_of(page)
    )
    assert "battle not served to the voter" in page.content.decode()
    assert metric(staff, "arena_votes_refused_total", reason="not_served_to_voter") == 15
    settings.ARENA_ALERT_REJECTED_SHARE = 0.7
    assert not any("were refused" in text for _, text in alerts_of(staff.get(URL)))


def test_votes_per_hour_and_day_and_coverage_come_from_the_tallies_and_counters(staff):
    from battles.services.tallies import votes_tally

    first, second = ContenderFactory(name="first"), ContenderFactory(name="second")
    ContenderFactory(name="third")
    ContenderFactory(name="never drawn", sampling_weight=0)  # its pairs are not counted
    for _ in range(3):
        VoteFactory(contender_a=first, contender_b=second)
    votes_tally()
    ratings_refresh()
    page = staff.get(URL)
    votes, coverage = page.context["votes"], page.context["coverage"]
    assert len(votes.hours) == 48 and votes.hours[-1][1] == 3 and sum(v for _, v in votes.hours) == 3
    assert len(votes.days) == 90 and votes.days[-1][1] == 3
    assert [board.vote_count for board in coverage.boards] == [3]
    assert [(row["name"], row["change"]) for row in coverage.rank_changes][:1] == [("first", None)]
    assert coverage.pairs_total == 3 and coverage.pairs_few == 3
    assert coverage.pairs_fewest[0]["votes"] == 0
    assert sorted(pair["votes"] for pair in coverage.pairs_fewest) == [0, 0, 3]
    assert coverage.matrix_names == ["first", "second", "third"] and coverage.matrix[0][1] == 3
    assert page.content.decode().count('<rect x="') == 48 + 90


def test_a_slow_contender_is_an_alert_and_its_answers_fill_the_slow_buckets(staff, settings):
    from battles.services.tallies import answer_latency_count

    settings.ARENA_ALERT_SLOW_ANSWER_SECONDS = 30
    slow = ContenderFactory(name="slow-model")
    for seconds in [20, 35, 40, 90]:
        AnswerFactory(
            contender=slow,
            status=Answer.Status.DONE,
            finished_at=timezone.now() - dt.timedelta(minutes=seconds),
            latency_ms=seconds * 1000,
        )
        answer_latency_count(contender_id=slow.pk, latency_ms=seconds * 1000)
    texts = [text for level, text in alerts_of(staff.get(URL)) if level == "warning"]
    assert any(
        text.startswith("slow-model is slow: 95% of its answers of the last day took up to 82 s")
        for text in texts
    )
    assert metric(staff, "arena_endpoint_answer_seconds_bucket", contender="slow-model", le="30.0") == 1
    assert metric(staff, "arena_endpoint_answer_seconds_bucket", contender="slow-model", le="60.0") == 3
    settings.ARENA_ALERT_SLOW_ANSWER_SECONDS = 90
    assert not any("slow-model is slow" in text for _, text in alerts_of(staff.get(URL)))


@respx.mock
def test_pause_resume_and_test_from_the_dashboard_row(staff):
    contender = ContenderFactory(name="row-model", stream=False)
    page = staff.get(URL).content.decode()
    assert f'action="/admin/dashboard/contenders/{contender.pk}/pause/"' in page
    response = staff.post(f"/admin/dashboard/contenders/{contender.pk}/pause/")
    assert response.status_code == 302 and response["Location"].startswith(URL)
    contender.refresh_from_db()
    assert contender.is_active is False
    row = next(row for row in staff.get(URL).context["contenders"] if row.name == "row-model")
    assert row.state == "inactive"
    staff.post(f"/admin/dashboard/contenders/{contender.pk}/resume/")
    contender.refresh_from_db()
    assert contender.is_active is True
    respx.post(ENDPOINT).mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        )
    )
    followed = staff.post(f"/admin/dashboard/contenders/{contender.pk}/test/", follow=True)
    shown = [str(message) for message in followed.context["messages"]]
    assert any(message.startswith("row-model: OK in") for message in shown), shown
    assert staff.get(f"/admin/dashboard/contenders/{contender.pk}/test/").status_code == 405
    assert staff.post(f"/admin/dashboard/contenders/{contender.pk}/delete/").status_code == 404


def test_the_pool_is_counted_up_to_a_limit_and_battles_by_state_in_full(staff):
    from battles.selectors import pool_counts

    voter = Voter.objects.create()
    for _ in range(3):
        BattleFactory()
    BattleFactory(status=Battle.Status.SERVED, voter=voter, served_at=timezone.now())
    BattleFactory(voter=voter)  # drawn for a voter, not served yet: held
    assert pool_counts(up_to=2) == {"ready": 2, "held": 2, "generating": 0}
    assert pool_counts(up_to=10) == {"ready": 3, "held": 2, "generating": 0}
    battles = {row.state: row.count for row in staff.get(URL).context["pool"].battles}
    assert battles == {"generating": 0, "ready": 4, "served": 1, "voted": 0, "retired": 0}


def test_rank_changes_show_new_contenders_then_the_biggest_moves():
    from dashboard.selectors_votes import MOVERS_SHOWN, Coverage

    rows = [
        {"id": 1, "name": "steady", "rank": 1, "change": 0},
        {"id": 2, "name": "new", "rank": 2, "change": None},
    ]
    rows += [{"id": 10 + n, "name": f"m{n}", "rank": 3 + n, "change": (n % 5) - 2 or 4} for n in range(20)]
    coverage = Coverage(rank_changes=rows)
    movers = coverage.rank_movers
    assert len(movers) == MOVERS_SHOWN and movers[0]["name"] == "new"
    moves = [abs(row["change"]) for row in movers[1:]]
    assert moves == sorted(moves, reverse=True) and moves[0] == 4
    assert coverage.rank_movers_not_shown == 21 - MOVERS_SHOWN and coverage.rank_unchanged == 1
