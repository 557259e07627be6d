"""Server time of the battle page and of the vote POST, with 1,000,000 voted battles and 100,000 open
ones in PostgreSQL (the Django test client: everything but the network)."""

import random
import statistics
import time

import pytest
from django.core import signing
from django.test import Client

from battles.management.seeding import arena_seed
from battles.models import Battle, Vote, Voter
from tests.benchmarks.conftest import report

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 400


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def voter_cookie(voter_id: str) -> str:
    return signing.get_cookie_signer(salt="arena_voter" + "arena.voter").sign(voter_id)


def test_bench_battle_page_and_vote_post(settings):
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = settings.ARENA_VOTES_PER_MINUTE_PER_IP = 10**6
    # The seeded contenders and questions are the whole arena here: voters must be served them.
    settings.ARENA_SERVE_SEEDED = True
    started = time.monotonic()
    arena_seed(contenders=20, questions=2000, voters=100_000, voted_battles=1_000_000, open_battles=100_000)
    print(f"\nseeded in {time.monotonic() - started:.0f} s", flush=True)
    assert Battle.objects.filter(status=Battle.Status.VOTED).count() == 1_000_000
    assert Battle.objects.filter(status=Battle.Status.READY).count() == 100_000

    voter_ids = [str(pk) for pk in Voter.objects.values_list("id", flat=True)[:REQUESTS]]
    random.Random(1).shuffle(voter_ids)
    # Half returning voters (about ten votes each behind them), half first visits (a new voter each).
    cookies = [voter_cookie(voter_id) for voter_id in voter_ids[: REQUESTS // 2]] + [""] * (REQUESTS // 2)
    # One client, as one server process: Django loads its middleware once, not per request.
    client = Client()
    for _ in range(20):
        client.get("/leaderboard/")

    # Each voter from an address of their own, as on a public arena: the limits per address hold.
    addresses = [f"10.{index // 250 % 250}.{index % 250}.7" for index in range(len(cookies))]
    page_ms, vote_ms, served = [], [], []
    for cookie, address in zip(cookies, addresses, strict=True):
        client.cookies.clear()
        if cookie:
            client.cookies["arena_voter"] = cookie
        begun = time.perf_counter()
        response = client.get("/", REMOTE_ADDR=address)
        page_ms.append((time.perf_counter() - begun) * 1000)
        assert response.status_code == 200 and b"data-arena-vote" in response.content
        battle_id = int(response.content.split(b"/battles/")[1].split(b"/vote/")[0])
        served.append((client.cookies["arena_voter"].value, battle_id))
    votes_before = Vote.objects.count()
    for (cookie, battle_id), address in zip(served, addresses, strict=True):
        client.cookies.clear()
        client.cookies["arena_voter"] = cookie
        begun = time.perf_counter()
        response = client.post(f"/battles/{battle_id}/vote/", {"outcome": "a"}, REMOTE_ADDR=address)
        vote_ms.append((time.perf_counter() - begun) * 1000)
        assert response.status_code == 303
    assert Vote.objects.count() == votes_before + REQUESTS

    print(f"battle page ms: median {statistics.median(page_ms):.1f}, p95 {percentile(page_ms, 0.95):.1f}")
    print(f"vote post ms: median {statistics.median(vote_ms):.1f}, p95 {percentile(vote_ms, 0.95):.1f}")
    report("battle_page_p95_ms", percentile(page_ms, 0.95), "ms")
    report("vote_post_p95_ms", percentile(vote_ms, 0.95), "ms")
