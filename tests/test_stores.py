"""Redis may vanish: votes, battles and the API go on without it, limits hold through PostgreSQL,
and the outage is recorded for staff. The cache points at a real Redis that is stopped."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from arena import stores
from arena.models import StoreOutage
from battles.models import Battle, Vote
from battles.services.voting import VoteRejected, vote_cast
from tests.factories import BattleFactory, VoterFactory
from tests.private_stores import PrivateRedis, private_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache() -> Iterator[PrivateRedis]:
    """The cache on a private Redis, which the test may stop."""
    with private_redis() as store:
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": store.url(0),
                "KEY_PREFIX": "arena",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        with override_settings(CACHES=caches):
            stores.reset_for_tests()
            yield store
    stores.reset_for_tests()


def _served(voter):  # type: ignore[no-untyped-def]
    return BattleFactory(status=Battle.Status.SERVED, voter=voter, served_at=timezone.now())


def test_votes_are_counted_and_limited_in_postgresql_while_redis_is_down(settings, redis_cache):
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 2
    voter = VoterFactory()
    battles = [_served(voter) for _ in range(3)]
    redis_cache.stop()
    assert vote_cast(battle_id=battles[0].pk, voter=voter, outcome="a", ip_hash="h").outcome == "a"
    assert vote_cast(battle_id=battles[1].pk, voter=voter, outcome="b", ip_hash="h").outcome == "b"
    with pytest.raises(VoteRejected) as rejected:
        vote_cast(battle_id=battles[2].pk, voter=voter, outcome="tie", ip_hash="h")
    assert rejected.value.code == "voter_rate"
    assert Vote.objects.count() == 2
    assert (
        Battle.objects.get(pk=battles[2].pk).status == Battle.Status.SERVED
    )  # the rejection changed nothing
    outage = StoreOutage.objects.get()
    assert outage.store == "cache" and outage.ended_at is None
    assert "Connection refused" in outage.last_error
    assert outage.fallbacks["rate limit"] >= 1


def test_the_outage_ends_when_redis_is_back_and_counts_every_call_without_it(redis_cache):
    redis_cache.stop()
    for _ in range(3):
        assert (
            stores.call(stores.CACHE, "probe", lambda: cache.get("x", "cached"), fallback=lambda: "none")
            == "none"
        )
    redis_cache.start()
    stores._breakers[stores.CACHE].retry_at = 0  # the breaker's second has passed
    assert (
        stores.call(stores.CACHE, "probe", lambda: cache.get("x", "cached"), fallback=lambda: "none")
        == "cached"
    )
    outage = StoreOutage.objects.get()
    assert outage.ended_at is not None
    assert outage.fallbacks == {"probe": 3} and outage.fallback_total == 3
    assert not stores.is_failing(stores.CACHE)


def test_errors_that_are_not_about_reaching_the_store_still_raise():
    def bug() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        stores.call(stores.CACHE, "probe", bug, fallback=lambda: None)
    assert not StoreOutage.objects.exists()


def test_the_battle_page_and_the_api_answer_while_redis_is_down(client, settings, redis_cache):
    settings.ARENA_API_ANONYMOUS_RATE = "1/min"  # the throttle's window lives in Redis: off without it
    BattleFactory(status=Battle.Status.READY)
    redis_cache.stop()
    page = client.get("/")
    assert page.status_code == 200 and b"data-arena-vote" in page.content
    for _ in range(3):
        assert client.get("/api/v1/questions/").status_code == 200
    first = client.post("/api/v1/battles/next/")
    assert first.status_code == 200 and first.json()["status"] in {"ready", "preparing"}
    assert StoreOutage.objects.filter(store="cache").exists()


def test_a_redis_that_refuses_writes_is_an_outage_and_a_wrong_command_is_a_bug():
    import redis.exceptions

    def out_of_memory() -> None:
        raise redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'.")

    def misconfigured() -> None:
        raise redis.exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots")

    def wrong_command() -> None:
        raise redis.exceptions.ResponseError("ERR unknown command 'INCRR'")

    assert stores.call(stores.CACHE, "probe", out_of_memory, fallback=lambda: "fell back") == "fell back"
    stores._breakers[stores.CACHE].retry_at = 0
    assert stores.call(stores.CACHE, "probe", misconfigured, fallback=lambda: "fell back") == "fell back"
    stores._breakers[stores.CACHE].retry_at = 0
    with pytest.raises(redis.exceptions.ResponseError):
        stores.call(stores.CACHE, "probe", wrong_command, fallback=lambda: "fell back")
    stores.reset_for_tests()


def test_while_a_store_fails_one_caller_a_second_tries_it_and_the_others_go_on_without_it(redis_cache):
    redis_cache.stop()
    tries = []

    def operation() -> str:
        tries.append(1)
        return str(cache.get("x", "cached"))

    assert stores.call(stores.CACHE, "probe", operation, fallback=lambda: "none") == "none"
    stores._breakers[stores.CACHE].retry_at = 0  # a second has passed
    results = [stores.call(stores.CACHE, "probe", operation, fallback=lambda: "none") for _ in range(5)]
    assert results == ["none"] * 5
    assert len(tries) == 2  # the first call, and one caller after the second had passed
