"""A client calling POST /api/v1/battles/next/ in a loop for 60 s (without a voter token, then with
one), from one address, while 8 honest voters from other addresses vote through the API: how many
battles the flood holds at most, how many of its calls were refused, and whether an honest voter
ever had to wait ("preparing") for a battle. The pool keeps its default target of 20."""

import threading
import time

import httpx

from tests.benchmarks.conftest import report
from tests.stack import Voters, arena_stack

SECONDS = 60.0


def test_bench_a_flood_of_next_battle_calls_does_not_keep_honest_voters_waiting():
    settings = {
        "ARENA_POOL_TARGET": "20",
        "ARENA_API_ANONYMOUS_RATE": "10000000/min",  # the flood meets the serving limits, not the throttle
        "ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER": "20",
        "ARENA_NEW_BATTLES_PER_MINUTE_PER_IP": "120",
        "ARENA_NEW_VOTERS_PER_MINUTE_PER_IP": "60",
        "ARENA_HELD_BATTLES_PER_IP": "10",
    }
    with arena_stack(**settings) as stack:
        statuses: dict[int, int] = {}
        held_at_most = [0]
        stop = threading.Event()

        def flood() -> None:
            with httpx.Client(
                base_url=stack.base_url, timeout=30, headers={"X-Forwarded-For": "10.9.9.9"}
            ) as c:
                token = ""
                calls = 0
                while not stop.is_set():
                    # Half the calls as a new voter each time, half with one voter's token.
                    headers = {"X-Arena-Voter": token} if token and calls % 2 else {}
                    response = c.post("/api/v1/battles/next/", headers=headers)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        token = response.json()["voter_token"]
                    calls += 1

        def watch() -> None:
            while not stop.is_set():
                held = stack.sql(
                    "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM battles_battle "
                    "WHERE holder_ip_hash <> '' AND voter_id IS NOT NULL "
                    "AND status IN ('generating', 'ready', 'served') GROUP BY holder_ip_hash) held"
                )[0][0]
                held_at_most[0] = max(held_at_most[0], int(held))
                time.sleep(0.5)

        threads = [threading.Thread(target=flood), threading.Thread(target=watch)]
        with Voters(stack.base_url, api_voters=8) as honest:
            for thread in threads:
                thread.start()
            time.sleep(SECONDS)
            stop.set()
            for thread in threads:
                thread.join()
        preparing = honest.tally.statuses  # statuses of the honest voters' calls
        report("flood_calls", sum(statuses.values()), "calls")
        report("flood_refused_429", statuses.get(429, 0), "calls")
        report("flood_battles_held_at_most", held_at_most[0], "battles")
        report("honest_votes", len(honest.tally.confirmed), "votes")
        report("honest_waits_preparing", honest.preparing, "responses")
        report("honest_5xx", sum(honest.tally.server_errors.values()), "responses")
        assert not {code for code in preparing if code >= 500}
