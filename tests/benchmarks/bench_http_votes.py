"""Votes through gunicorn over real HTTP, by concurrent voters, for a minute: how many a second the
arena sustains with none lost, the vote POST's p95 at that load, and the framework's floor (a
trivial view through the same middleware with one database round trip) at the same load.

A whole arena on private PostgreSQL and Redis (tests/stack.py): gunicorn (two processes, a thread
for each voter), a Celery worker and beat; 15,000 ready battles seeded beforehand, the minimum
reading time 0 and the vote limits off.
"""

import statistics
import threading
import time

import httpx

from tests.benchmarks.conftest import report
from tests.stack import arena_stack

VOTERS = 24
SECONDS = 60.0
# The floor is measured for this long just before the votes and again just after: the machine's
# speed drifts from one minute to the next, and both sides of the ratio should see the same.
FLOOR_SECONDS = 10.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _voter(base_url: str, number: int, until: float, results: dict) -> None:  # type: ignore[type-arg]
    confirmed: list[int] = []
    vote_ms: list[float] = []
    failures = 0
    with httpx.Client(
        base_url=base_url, timeout=30, headers={"X-Forwarded-For": f"10.2.0.{number}"}
    ) as client:
        token = ""
        while time.monotonic() < until:
            next_battle = client.post(
                "/api/v1/battles/next/", headers={"X-Arena-Voter": token} if token else {}
            )
            if next_battle.status_code != 200:
                failures += 1
                continue
            body = next_battle.json()
            token = body["voter_token"]
            if body["status"] != "ready":
                time.sleep(0.05)
                continue
            started = time.perf_counter()
            vote = client.post(
                f"/api/v1/battles/{body['battle']['id']}/vote/",
                headers={"X-Arena-Voter": token},
                json={"outcome": "abtb"[number % 4].replace("t", "tie")},
            )
            vote_ms.append((time.perf_counter() - started) * 1000)
            if vote.status_code == 201:
                confirmed.append(vote.json()["id"])
            else:
                failures += 1
    results[number] = (confirmed, vote_ms, failures)


def _floor(base_url: str, number: int, until: float, results: dict) -> None:  # type: ignore[type-arg]
    timings: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            # Two requests per loop, as a voter makes: the floor is timed on the second (a POST).
            client.get("/floor/")
            started = time.perf_counter()
            response = client.post("/floor/")
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    results[number] = timings


def _run(target, base_url: str, seconds: float) -> dict:  # type: ignore[no-untyped-def,type-arg]
    results: dict = {}  # type: ignore[type-arg]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=target, args=(base_url, n, until, results)) for n in range(VOTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_bench_votes_sustained_over_http():
    settings = {
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.floor_settings",
        "ARENA_POOL_TARGET": "0",
        "ARENA_SERVE_SEEDED": "true",
        "ARENA_RATINGS_REFRESH_INTERVAL_SECONDS": "10",
        "ARENA_BOOTSTRAP_ROUNDS": "200",
        "LOG_LEVEL": "WARNING",
        # Each voter here is a script voting as fast as it can: the serving limits are off, as the
        # vote limits are (tests/stack.py).
        "ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER": "1000000",
        "ARENA_NEW_BATTLES_PER_MINUTE_PER_IP": "1000000",
        "ARENA_NEW_VOTERS_PER_MINUTE_PER_IP": "1000000",
    }
    with arena_stack(web_workers=2, web_threads=12, **settings) as stack:
        stack.manage(
            *["seed_arena", "--contenders", "20", "--questions", "2000", "--voters", "1000"],
            *["--open-battles", "15000"],
        )
        before = len(stack.votes_stored())
        floor_before = _run(_floor, stack.base_url, FLOOR_SECONDS)
        results = _run(_voter, stack.base_url, SECONDS)
        floor_after = _run(_floor, stack.base_url, FLOOR_SECONDS)
        confirmed = [vote for voter in results.values() for vote in voter[0]]
        vote_ms = [ms for voter in results.values() for ms in voter[1]]
        failures = sum(voter[2] for voter in results.values())
        stored = {vote for vote, _ in stack.votes_stored()}
        lost = len(set(confirmed) - stored)
        assert len(stored) - before == len(confirmed) and lost == 0, (failures, stack.logs())
        floor_ms = [
            ms for floor in (floor_before, floor_after) for timings in floor.values() for ms in timings
        ]
        report("votes_sustained_per_second", len(confirmed) / SECONDS, "votes/s")
        report("votes_lost", lost, "votes")
        report("vote_http_p50_ms", statistics.median(vote_ms), "ms")
        report("vote_http_p95_ms", percentile(vote_ms, 0.95), "ms")
        report("floor_http_p50_ms", statistics.median(floor_ms), "ms")
        report("floor_http_p95_ms", percentile(floor_ms, 0.95), "ms")
        # Each floor loop makes two requests, as a voter does (next battle, then vote).
        report("floor_loops_per_second", len(floor_ms) / (2 * FLOOR_SECONDS), "loops/s")
        report("vote_to_floor_p95_ratio", percentile(vote_ms, 0.95) / percentile(floor_ms, 0.95), "x")
        print(f"\n{failures} refused requests, {len(confirmed)} votes by {VOTERS} voters in {SECONDS:.0f} s")
