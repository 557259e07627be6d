"""Holding battles for voters: holds end, late votes are told why, and new holds and new voters are
limited per voter and per address, with Redis or without it."""

import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from arena import stores
from arena.models import StoreOutage
from battles.models import Battle, Vote, Voter
from battles.services.health import answers_sweep
from battles.services.holds import ServeLimited
from battles.services.serving import battle_serve
from battles.services.voting import VoteRejected, ip_hash_of, vote_cast, voter_get_or_create
from tests.factories import BattleFactory, ContenderFactory, QuestionFactory, VoterFactory

pytestmark = pytest.mark.django_db

HOME = "198.51.100.7"
ELSEWHERE = "192.0.2.40"


@pytest.fixture
def one_minute() -> None:
    """The per-minute windows start afresh on the minute: a test that fills one starts well inside a
    minute, so that its calls all fall in the same window."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.2)


def database_state() -> tuple:
    return (
        sorted(Voter.objects.values_list("id", flat=True)),
        list(
            Battle.objects.order_by("id").values_list(
                "id", "status", "voter_id", "served_at", "holder_ip_hash", "expired_holder_id"
            )
        ),
        list(Vote.objects.values_list("id", flat=True)),
    )


def served_minutes_ago(battle: Battle, minutes: float) -> None:
    Battle.objects.filter(pk=battle.pk).update(served_at=timezone.now() - dt.timedelta(minutes=minutes))


def test_a_hold_that_runs_out_returns_the_battle_and_a_late_vote_is_told_why(settings):
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    voter, stranger = VoterFactory(), VoterFactory()
    battle = BattleFactory()
    assert battle_serve(voter=voter, ip_hash=ip_hash_of(HOME)) == battle
    battle.refresh_from_db()
    assert (battle.status, battle.holder_ip_hash) == (Battle.Status.SERVED, ip_hash_of(HOME))
    served_minutes_ago(battle, 9)
    assert answers_sweep().battles_returned == 0  # still held: the voter may be reading
    served_minutes_ago(battle, 11)
    assert answers_sweep().battles_returned == 1
    battle.refresh_from_db()
    assert (battle.status, battle.voter, battle.served_at, battle.holder_ip_hash, battle.expired_holder) == (
        Battle.Status.READY,
        None,
        None,
        "",
        voter,
    )
    before = database_state()
    with pytest.raises(VoteRejected) as late:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a", ip_hash=ip_hash_of(HOME))
    assert late.value.code == "hold_expired"
    assert str(late.value) == (
        "this battle waited too long for your vote and went back to the pool: your vote was not counted, "
        "please take the next battle"
    )
    with pytest.raises(VoteRejected) as not_yours:
        vote_cast(battle_id=battle.pk, voter=stranger, outcome="a")
    assert not_yours.value.code == "not_served_to_voter"
    assert database_state() == before
    # Back in the pool, it is served to the next voter, who can vote on it.
    assert battle_serve(voter=stranger, ip_hash=ip_hash_of(ELSEWHERE)) == battle
    assert vote_cast(battle_id=battle.pk, voter=stranger, outcome="b").outcome == "b"


def test_a_vote_after_the_hold_but_before_the_sweep_counts(settings):
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    served_minutes_ago(battle, 30)
    assert vote_cast(battle_id=battle.pk, voter=voter, outcome="tie").outcome == "tie"
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.VOTED


def test_a_voter_back_after_the_hold_gets_the_same_battle_held_anew(settings):
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    voter = VoterFactory()
    BattleFactory.create_batch(2)
    held = battle_serve(voter=voter)
    assert held is not None
    served_minutes_ago(held, 12)
    before_return = timezone.now()
    again = battle_serve(voter=voter)
    assert again.pk == held.pk
    held.refresh_from_db()
    assert held.served_at >= before_return  # held anew from now
    assert answers_sweep().battles_returned == 0
    assert Battle.objects.filter(voter=voter).count() == 1


def test_late_votes_over_http_are_answered_politely(settings):
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    page_battle, api_battle = BattleFactory(), BattleFactory()
    browser = Client(REMOTE_ADDR=HOME)
    html = browser.get("/").content.decode()
    page_battle_id = int(re.search(r"/battles/(\d+)/vote/", html).group(1))
    api = APIClient(REMOTE_ADDR=HOME)
    served = api.post("/api/v1/battles/next/").json()
    token, api_battle_id = served["voter_token"], served["battle"]["id"]
    assert {page_battle_id, api_battle_id} == {page_battle.pk, api_battle.pk}
    Battle.objects.update(served_at=timezone.now() - dt.timedelta(minutes=11))
    assert answers_sweep().battles_returned == 2
    before = database_state()

    page = browser.post(f"/battles/{page_battle_id}/vote/", {"outcome": "a"})
    assert page.status_code == 409
    assert "这场对战等你投票等了很久，已经回到对战池留给其他投票者。" in page.content.decode()
    assert 'href="/"' in page.content.decode()
    vote = api.post(
        f"/api/v1/battles/{api_battle_id}/vote/", {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER=token
    )
    assert vote.status_code == 409
    assert vote.json() == {
        "error": {
            "status": 409,
            "code": "hold_expired",
            "message": "this battle waited too long for your vote and went back to the pool: your vote was "
            "not counted, please take the next battle",
            "fields": {},
        }
    }
    assert database_state() == before
    # The next battle is there at once.
    assert api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()["status"] == "ready"


def test_an_address_holds_at_most_the_cap_and_a_holder_always_gets_its_battle_back(settings):
    settings.ARENA_HELD_BATTLES_PER_IP = 3
    settings.ARENA_BATTLE_HOLD_SECONDS = 600
    settings.ARENA_SWEEP_INTERVAL_SECONDS = 30
    BattleFactory.create_batch(6)
    home = ip_hash_of(HOME)
    holders = [VoterFactory() for _ in range(3)]
    held = [battle_serve(voter=voter, ip_hash=home) for voter in holders]
    assert all(battle is not None for battle in held)
    one_more = VoterFactory()
    before = database_state()
    asked_at = timezone.now()
    with pytest.raises(ServeLimited) as refused:
        battle_serve(voter=one_more, ip_hash=home)
    answered_at = timezone.now()
    assert refused.value.code == "held_ip_cap"
    assert str(refused.value) == (
        "your address already holds 3 battles not voted on (at most 3): vote on one, or wait until one "
        "goes back to the pool"
    )
    # Until the oldest hold surely ends: its 600 s and the sweep after them (30 s), from the moment
    # the call was refused.
    oldest_ends = Battle.objects.get(pk=held[0].pk).served_at + dt.timedelta(seconds=630)
    wait = refused.value.retry_after_seconds
    assert (oldest_ends - answered_at).total_seconds() <= wait <= (oldest_ends - asked_at).total_seconds()
    assert database_state() == before
    with pytest.raises(ServeLimited):  # nor a new voter from there
        voter_get_or_create(voter_id=None, ip_hash=home)
    assert database_state() == before
    # A holder gets the same battle back, whatever the cap; another address is not affected.
    assert [battle_serve(voter=voter, ip_hash=home) for voter in holders] == held
    assert battle_serve(voter=VoterFactory(), ip_hash=ip_hash_of(ELSEWHERE)) is not None
    # A vote ends a hold: the address may start another one.
    vote_cast(battle_id=held[0].pk, voter=holders[0], outcome="a", ip_hash=home)
    assert battle_serve(voter=one_more, ip_hash=home) is not None
    assert Battle.objects.filter(holder_ip_hash=home, status=Battle.Status.SERVED).count() == 3


@pytest.mark.parametrize("redis", ["up", "unreachable"])
def test_new_battles_per_voter_are_limited_each_minute(settings, request, one_minute, redis):
    if redis == "unreachable":
        request.getfixturevalue("cache_unreachable")
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = 2
    BattleFactory.create_batch(4)
    voter = VoterFactory()
    for _ in range(2):
        battle = battle_serve(voter=voter, ip_hash=ip_hash_of(HOME))
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    before = database_state()
    with pytest.raises(ServeLimited) as refused:
        battle_serve(voter=voter, ip_hash=ip_hash_of(HOME))
    assert refused.value.code == "serve_voter_rate"
    assert str(refused.value) == "too many new battles for this voter this minute: please wait a minute"
    assert 0 < refused.value.retry_after_seconds <= 60
    assert database_state() == before
    assert battle_serve(voter=VoterFactory(), ip_hash=ip_hash_of(HOME)) is not None  # others go on


@pytest.mark.parametrize("redis", ["up", "unreachable"])
def test_new_battles_per_address_are_limited_each_minute(settings, request, one_minute, redis):
    if redis == "unreachable":
        request.getfixturevalue("cache_unreachable")
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_IP = 2
    BattleFactory.create_batch(4)
    for _ in range(2):
        assert battle_serve(voter=VoterFactory(), ip_hash=ip_hash_of(HOME)) is not None
    late = VoterFactory()
    before = database_state()
    with pytest.raises(ServeLimited) as refused:
        battle_serve(voter=late, ip_hash=ip_hash_of(HOME))
    assert refused.value.code == "serve_ip_rate"
    assert str(refused.value) == "too many new battles from your address this minute: please wait a minute"
    assert database_state() == before
    assert battle_serve(voter=late, ip_hash=ip_hash_of(ELSEWHERE)) is not None


def test_new_voters_per_address_are_limited_each_minute(settings, one_minute):
    settings.ARENA_NEW_VOTERS_PER_MINUTE_PER_IP = 2
    for _ in range(2):
        voter_get_or_create(voter_id=None, ip_hash=ip_hash_of(HOME))
    existing = VoterFactory()
    before = database_state()
    with pytest.raises(ServeLimited) as refused:
        voter_get_or_create(voter_id=None, ip_hash=ip_hash_of(HOME))
    assert refused.value.code == "new_voter_ip_rate"
    assert 0 < refused.value.retry_after_seconds <= 60
    assert database_state() == before
    assert voter_get_or_create(voter_id=existing.pk, ip_hash=ip_hash_of(HOME)) == existing
    assert voter_get_or_create(voter_id=None, ip_hash=ip_hash_of(ELSEWHERE)) not in (None, existing)


def test_without_redis_new_voters_are_let_through_and_the_outage_is_counted(
    settings, one_minute, cache_unreachable
):
    settings.ARENA_NEW_VOTERS_PER_MINUTE_PER_IP = 2
    voters = [voter_get_or_create(voter_id=None, ip_hash=ip_hash_of(HOME)) for _ in range(4)]
    assert Voter.objects.filter(pk__in=[voter.pk for voter in voters]).count() == 4
    assert stores.is_failing(stores.CACHE)
    outage = StoreOutage.objects.get(store="cache", ended_at__isnull=True)
    assert outage.fallbacks == {"limit new voters": 1}  # the first call; the rest are flushed later


def test_asking_again_while_a_battle_is_prepared_uses_up_no_limit(settings, one_minute):
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = 1
    QuestionFactory()
    ContenderFactory.create_batch(2)  # endpoints without answers: a drawn battle waits for them
    voter = VoterFactory()
    assert battle_serve(voter=voter, ip_hash=ip_hash_of(HOME)) is None
    drawn = Battle.objects.get(voter=voter)
    assert (drawn.status, drawn.holder_ip_hash) == (Battle.Status.GENERATING, ip_hash_of(HOME))
    before = database_state()
    for _ in range(5):
        assert battle_serve(voter=voter, ip_hash=ip_hash_of(HOME)) is None
    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_calls_arriving_together_from_one_address_stop_at_the_cap(settings):
    settings.ARENA_HELD_BATTLES_PER_IP = 3
    BattleFactory.create_batch(8)
    voters = [VoterFactory() for _ in range(8)]
    start = threading.Barrier(len(voters), timeout=10)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def ask(voter: Voter) -> None:
        try:
            start.wait()
            battle = battle_serve(voter=voter, ip_hash=ip_hash_of(HOME))
            outcomes.append("served" if battle is not None else "none")
        except ServeLimited as limited:
            outcomes.append(limited.code)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(voter,)) for voter in voters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(outcomes) == ["held_ip_cap"] * 5 + ["served"] * 3
    assert Battle.objects.filter(holder_ip_hash=ip_hash_of(HOME), status=Battle.Status.SERVED).count() == 3


def test_the_page_asks_politely_to_wait_and_says_until_when(settings, one_minute):
    settings.ARENA_NEW_VOTERS_PER_MINUTE_PER_IP = 1
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = 1
    BattleFactory.create_batch(3)
    browser = Client(REMOTE_ADDR=HOME)
    page = browser.get("/").content.decode()
    battle_id = int(re.search(r"/battles/(\d+)/vote/", page).group(1))
    before = database_state()

    newcomer = Client(REMOTE_ADDR=HOME).get("/")
    assert newcomer.status_code == 429 and 1 <= int(newcomer["Retry-After"]) <= 60
    assert "此刻有很多新访客从你所在的网络进入。请一分钟后再试。" in newcomer.content.decode()
    assert "arena_voter" not in newcomer.cookies and newcomer["Cache-Control"] == "no-store"
    assert database_state() == before

    assert browser.post(f"/battles/{battle_id}/vote/", {"outcome": "a"}).status_code == 303
    voted = database_state()
    too_fast = browser.get("/")
    assert too_fast.status_code == 429 and 1 <= int(too_fast["Retry-After"]) <= 60
    assert "你切换对战的速度太快了。请稍等一分钟再继续。" in too_fast.content.decode()
    assert 'href="/"' in too_fast.content.decode()  # try again
    assert database_state() == voted


@pytest.mark.parametrize(
    ("environment", "seconds"),
    [
        ({}, 600.0),
        ({"ARENA_SERVED_BATTLE_TTL_SECONDS": "1800"}, 1800.0),  # the older name still works
        ({"ARENA_SERVED_BATTLE_TTL_SECONDS": "1800", "ARENA_BATTLE_HOLD_SECONDS": "300"}, 300.0),
    ],
)
def test_the_hold_setting_and_its_older_name(environment, seconds):
    variables = {
        name: value
        for name, value in os.environ.items()
        if name not in {"ARENA_SERVED_BATTLE_TTL_SECONDS", "ARENA_BATTLE_HOLD_SECONDS"}
    }
    variables |= {"SECRET_KEY": "a-secret-for-this-test-only", **environment}
    read = subprocess.run(
        [sys.executable, "-c", "import arena.settings as s; print(s.ARENA_BATTLE_HOLD_SECONDS)"],
        env=variables,
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(read.stdout) == seconds
