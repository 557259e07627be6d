import datetime as dt
import json
import math
import threading
from io import StringIO

import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from battles.models import Vote
from ratings.models import RatingSnapshot
from ratings.selectors import leaderboard_latest
from ratings.services import (
    REFRESH_LOCK,
    REFRESH_QUEUED_KEY,
    ratings_rebuild,
    ratings_refresh,
    ratings_refresh_locked,
    ratings_refresh_request,
)
from tests.factories import CategoryFactory, ContenderFactory, VoteFactory
from tests.locks import another_session_holds, rows_locked, rows_waited_for, sessions_waiting_for
from tests.workers import wait_until

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_refresh_counts_votes_in_time_order():
    strong, weak, idle = (
        ContenderFactory(name="strong"),
        ContenderFactory(name="weak"),
        ContenderFactory(name="idle"),
    )
    # Created out of time order: the refresh must sort by time, not by id.
    VoteFactory(contender_a=weak, contender_b=strong, outcome="b", created_at=T0 + dt.timedelta(minutes=2))
    VoteFactory(contender_a=strong, contender_b=weak, outcome="a", created_at=T0)
    VoteFactory(contender_a=strong, contender_b=weak, outcome="tie", created_at=T0 + dt.timedelta(minutes=1))
    last = VoteFactory(
        contender_a=weak, contender_b=strong, outcome="both_bad", created_at=T0 + dt.timedelta(minutes=3)
    )

    snapshot = ratings_refresh()

    assert snapshot.vote_count == 4 and snapshot.last_vote_id == last.pk
    rows = {row.contender.name: row for row in snapshot.ratings.select_related("contender")}
    assert set(rows) == {"strong", "weak"}  # a contender without votes has no row
    expected_strong = 1000.0
    expected_weak = 1000.0
    for winner_score in (1.0, 0.5, 1.0, 0.5):  # strong's score in time order
        expected = 1 / (1 + 10 ** ((expected_weak - expected_strong) / 400))
        delta = 4 * (winner_score - expected)
        expected_strong, expected_weak = expected_strong + delta, expected_weak - delta
    assert rows["strong"].elo == pytest.approx(expected_strong, abs=1e-9)
    assert rows["weak"].elo == pytest.approx(expected_weak, abs=1e-9)
    strong_row = rows["strong"]
    assert (strong_row.wins, strong_row.losses, strong_row.ties, strong_row.both_bad, strong_row.votes) == (
        2,
        0,
        1,
        1,
        4,
    )
    assert strong_row.win_rate == 1.0 and rows["weak"].win_rate == 0.0
    assert idle.ratings.count() == 0


def test_refresh_without_new_votes_stores_nothing():
    VoteFactory()
    assert ratings_refresh() is not None
    assert ratings_refresh() is None
    assert RatingSnapshot.objects.count() == 1
    VoteFactory()
    assert ratings_refresh().vote_count == 2


def test_a_refresh_that_finds_another_running_leaves_its_votes_to_it():
    VoteFactory()
    with another_session_holds(REFRESH_LOCK):
        assert ratings_refresh_locked() is None
    assert not RatingSnapshot.objects.exists()
    assert ratings_refresh_locked() is not None


def test_leaderboard_command_prints_json_best_first():
    first, second = ContenderFactory(name="第一"), ContenderFactory(name="second")
    for outcome in ["a", "a", "b", "tie"]:
        VoteFactory(contender_a=first, contender_b=second, outcome=outcome)
    ratings_refresh()
    out = StringIO()
    call_command("leaderboard", "--json", stdout=out)
    best, other = json.loads(out.getvalue())
    assert set(best) == {
        "rank",
        "name",
        "bt_rating",
        "ci_low",
        "ci_high",
        "sandwich_low",
        "sandwich_high",
        "elo",
        "win_rate",
        "wins",
        "losses",
        "ties",
        "both_bad",
        "votes",
        "preliminary",
        "retired",
        "rank_worst",
        "robust_votes",
        "style_rank",
        "style_rank_worst",
        "style_rating",
        "style_low",
        "style_high",
        "sampling_half_width",
        "sampling_share",
        "mle_rating",
        "mle_low",
        "mle_high",
    }
    assert (best["name"], other["name"]) == ("第一", "second")
    # 2.5 to 1.5: removing one of the first's wins leaves 1.5 to 1.5, level.
    assert (best["robust_votes"], other["robust_votes"]) == (1, None)
    assert (best["retired"], best["mle_rating"], best["sampling_share"]) == (False, None, None)
    assert (best["wins"], best["losses"], best["ties"], best["votes"], best["win_rate"]) == (
        2,
        1,
        1,
        4,
        0.6667,
    )
    # Two contenders: ratings centred on 1000, 2.5 wins of 4 → 400·log10(2.5/1.5) apart.
    assert best["bt_rating"] + other["bt_rating"] == pytest.approx(2000, abs=0.01)
    assert best["bt_rating"] - other["bt_rating"] == pytest.approx(400 * math.log10(2.5 / 1.5), abs=0.01)
    assert best["ci_low"] <= best["bt_rating"] <= best["ci_high"]
    assert best["sandwich_low"] < best["bt_rating"] < best["sandwich_high"]
    assert best["preliminary"] and other["preliminary"]  # fewer than 100 votes
    assert best["rank"] == other["rank"] == 1  # intervals overlap
    table = StringIO()
    call_command("leaderboard", stdout=table)
    assert "第一" in table.getvalue() and "(preliminary)" in table.getvalue()
    assert [row.contender.name for row in leaderboard_latest().rows] == ["第一", "second"]


def test_leaderboard_command_without_snapshot():
    out = StringIO()
    call_command("leaderboard", "--json", stdout=out)
    assert json.loads(out.getvalue()) == []


def test_a_burst_of_refresh_requests_queues_one_refresh(settings, django_capture_on_commit_callbacks):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            ratings_refresh_request()
    assert broker.llen("celery") == 1
    # Once the refresh starts, a new vote queues a new refresh (the flag is cleared at the start).
    VoteFactory()
    cache.delete(REFRESH_QUEUED_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        ratings_refresh_request()
        ratings_refresh_request()
    assert broker.llen("celery") == 2


def test_a_refresh_that_finds_another_running_queues_nothing_and_keeps_the_queued_flag(settings):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    VoteFactory()
    cache.add(REFRESH_QUEUED_KEY, "1", timeout=60)
    with another_session_holds(REFRESH_LOCK):
        assert ratings_refresh_locked() is None
    assert broker.llen("celery") == 0  # no polling: the running refresh looks again before it ends
    assert cache.get(REFRESH_QUEUED_KEY) == "1"  # so new votes do not queue more tasks meanwhile
    assert not RatingSnapshot.objects.exists()


def test_a_broker_that_is_down_does_not_fail_a_committed_vote(
    settings, broker_unreachable, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ratings_refresh_request()  # robust: logged, not raised
    assert cache.get(REFRESH_QUEUED_KEY) is None  # the next vote tries to queue again
    assert redis.Redis.from_url(settings.REDIS_URL).llen("celery") == 0


def test_a_snapshot_long_after_its_votes_stores_the_lag():
    vote = VoteFactory()
    Vote.objects.filter(pk=vote.pk).update(recorded_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    snapshot = ratings_refresh()
    assert snapshot.vote_lag_ms > 40 * 24 * 3600 * 1000 - 60_000  # beyond a 32-bit integer's range


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_waits_for_a_running_refresh_without_polling_and_then_runs():
    VoteFactory()
    finished = threading.Event()

    def rebuild() -> None:
        try:
            ratings_rebuild()
        finally:
            connection.close()
            finished.set()

    with another_session_holds(REFRESH_LOCK) as holder:
        thread = threading.Thread(target=rebuild)
        thread.start()
        # The rebuild's session waits on the lock inside PostgreSQL (no sleep-and-retry loop).
        wait_until(lambda: sessions_waiting_for(holder, REFRESH_LOCK) == 1, timeout_seconds=30)
        assert not finished.is_set() and not RatingSnapshot.objects.exists()
    thread.join(timeout=60)
    assert finished.is_set()
    assert RatingSnapshot.objects.get(category=None).vote_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_vote_cast_during_a_refresh_of_the_category_boards_reaches_the_overall_board_after_one(settings):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    first, second = CategoryFactory(), CategoryFactory()
    VoteFactory(category=first)
    ratings_refresh()  # the Elo state's row exists
    VoteFactory(category=first)
    VoteFactory(category=second)
    finished = threading.Event()

    def refresh() -> None:
        try:
            ratings_refresh_locked(categories=True)
        finally:
            connection.close()
            finished.set()

    # Another session holds the Elo state's row: the refresh's first fit of the overall board waits on
    # it, with its view of the votes already taken; the vote below is cast meanwhile.
    with rows_locked("ratings_ratingsstate") as holder:
        thread = threading.Thread(target=refresh)
        thread.start()
        wait_until(lambda: rows_waited_for(holder) == 1, timeout_seconds=30)
        late = VoteFactory(category=second)
        ratings_refresh_request()
        assert broker.llen("celery") == 1 and cache.get(REFRESH_QUEUED_KEY) == "1"
    thread.join(timeout=60)
    assert finished.is_set()

    overall = list(RatingSnapshot.objects.filter(category=None).order_by("created_at", "id"))
    assert [snapshot.vote_count for snapshot in overall] == [1, 3, 4]
    with_late = overall[-1]
    assert with_late.last_vote_id == late.pk
    # Both category boards were refreshed, and the late vote reached the overall board before the
    # second of them: it waited for one category, not for all.
    boards = RatingSnapshot.objects.exclude(category=None).order_by("created_at", "id")
    assert sorted(board.category_id for board in boards) == sorted([first.pk, second.pk])
    assert boards[0].created_at <= with_late.created_at <= boards[1].created_at
    # The refresh that took the late vote in cleared the queued flag: the next vote queues a refresh.
    assert cache.get(REFRESH_QUEUED_KEY) is None
    ratings_refresh_request()
    assert broker.llen("celery") == 2
