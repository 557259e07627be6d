"""A client calling battles/next in a loop cannot keep honest voters waiting, with Redis or without."""

import re
from collections import Counter

import pytest
from django.test import Client
from rest_framework.test import APIClient

from arena import stores
from battles.models import Battle, Vote, Voter
from battles.services.pool import battle_pool_refill
from battles.services.voting import ip_hash_of
from tests.factories import AnswerFactory, OfflineContenderFactory, QuestionFactory

pytestmark = pytest.mark.django_db

LOOPER = "203.0.113.66"
HELD_MESSAGE = (
    "your address already holds 10 battles not voted on (at most 10): vote on one, or wait until one goes "
    "back to the pool"
)


@pytest.fixture
def pool() -> None:
    """A bank whose answers all exist (offline contenders), and a full pool of ready battles."""
    contenders = OfflineContenderFactory.create_batch(3)
    for question in QuestionFactory.create_batch(60):
        for contender in contenders:
            AnswerFactory(question=question, contender=contender)
    report = battle_pool_refill()
    assert len(report.battles_created) == 20 and report.problem == ""
    assert Battle.objects.filter(status=Battle.Status.READY, voter__isnull=True).count() == 20


def loop_of_calls(calls: int) -> tuple[Counter, list, dict[str, int]]:
    """battles/next from one address, `calls` times: every other call without a voter token, the
    others with one of the tokens it got so far. Returns the statuses, the refusals, and the battle
    each token was given first."""
    looper = APIClient(REMOTE_ADDR=LOOPER)
    statuses: Counter = Counter()
    refusals = []
    first_battle: dict[str, int] = {}
    tokens: list[str] = []
    for number in range(calls):
        with_token = number % 2 == 1 and tokens
        headers = {"HTTP_X_ARENA_VOTER": tokens[number % len(tokens)]} if with_token else {}
        response = looper.post("/api/v1/battles/next/", **headers)
        statuses[response.status_code] += 1
        if response.status_code == 429:
            refusals.append((response.json(), response["Retry-After"]))
            continue
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "ready"
        token = body["voter_token"]
        if token not in first_battle:
            tokens.append(token)
            first_battle[token] = body["battle"]["id"]
        assert body["battle"]["id"] == first_battle[token]  # a holder gets its battle back, no new one
    return statuses, refusals, first_battle


def honest_voters_are_served_and_vote() -> None:
    """Voters at other addresses, through the API and the page, each get a ready battle at once and
    vote on it."""
    for number in range(3):
        api = APIClient(REMOTE_ADDR=f"198.51.100.{number + 1}")
        served = api.post("/api/v1/battles/next/")
        assert served.status_code == 200 and served.json()["status"] == "ready"
        battle_id = served.json()["battle"]["id"]
        vote = api.post(
            f"/api/v1/battles/{battle_id}/vote/",
            {"outcome": "a"},
            format="json",
            HTTP_X_ARENA_VOTER=served.json()["voter_token"],
        )
        assert vote.status_code == 201, vote.content
    for number in range(3):
        browser = Client(REMOTE_ADDR=f"192.0.2.{number + 1}")
        page = browser.get("/")
        assert page.status_code == 200
        found = re.search(r"/battles/(\d+)/vote/", page.content.decode())
        assert found is not None, "the page shows a battle, not the waiting page"
        vote = browser.post(f"/battles/{found.group(1)}/vote/", {"outcome": "b"})
        assert vote.status_code == 303


def test_a_loop_of_calls_holds_at_most_the_cap_and_honest_voters_are_served_at_once(pool):
    statuses, refusals, first_battle = loop_of_calls(300)

    # 150 calls without a token: the first 10 made a voter and a hold each, the other 140 were
    # refused. The 150 calls with a token got the same battle again.
    assert statuses == Counter({200: 160, 429: 140})
    assert len(first_battle) == 10 and Voter.objects.count() == 10
    for body, retry_after in refusals:
        assert body == {
            "error": {"status": 429, "code": "held_ip_cap", "message": HELD_MESSAGE, "fields": {}}
        }
        assert 1 <= int(retry_after) <= 600 + 30  # the oldest hold and the sweep after it
    held = Battle.objects.filter(holder_ip_hash=ip_hash_of(LOOPER), status=Battle.Status.SERVED)
    assert sorted(held.values_list("id", flat=True)) == sorted(first_battle.values())
    assert Battle.objects.filter(status=Battle.Status.READY, voter__isnull=True).count() == 10

    honest_voters_are_served_and_vote()
    assert Vote.objects.count() == 6
    assert held.count() == 10  # the loop still holds no more than the cap

    # The refill draws around the held battles: the pool is full again.
    report = battle_pool_refill()
    assert (report.open_before, len(report.battles_created)) == (4, 16)
    assert Battle.objects.filter(status=Battle.Status.READY, voter__isnull=True).count() == 20


def test_without_redis_the_loop_is_still_capped_and_nobody_sees_a_500(pool, cache_unreachable):
    statuses, refusals, first_battle = loop_of_calls(60)

    assert statuses == Counter({200: 40, 429: 20})
    assert len(first_battle) == 10 and Voter.objects.count() == 10
    assert {body["error"]["code"] for body, _ in refusals} == {"held_ip_cap"}
    assert Battle.objects.filter(holder_ip_hash=ip_hash_of(LOOPER), status=Battle.Status.SERVED).count() == 10
    honest_voters_are_served_and_vote()
    assert Vote.objects.count() == 6
    # The page's own 429 when the address is at the cap, without a cookie (no voter was made).
    refused = Client(REMOTE_ADDR=LOOPER).get("/")
    assert refused.status_code == 429 and "arena_voter" not in refused.cookies
    assert "你所在网络上已有许多对战正在进行、尚未投票。" in refused.content.decode()
    assert Voter.objects.count() == 16
    assert stores.is_failing(stores.CACHE)
