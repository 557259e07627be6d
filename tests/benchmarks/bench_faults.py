"""Each fault of tests/faults/ at full length, under 20 concurrent voters (16 through the API, 4
through the page): worker SIGKILL, Redis restarted 5 times, Redis down for 60 s, PostgreSQL
restarted, every gunicorn worker SIGKILLed. For each: votes confirmed and stored (lost, duplicated),
answers with a 5xx status, dropped connections, and the seconds until the board counted every vote
once voting stopped."""

import os
import signal
import time
from collections.abc import Callable

from tests.benchmarks.conftest import report
from tests.stack import ArenaStack, Voters, arena_stack

VOTING_SECONDS = 10.0


def _fault(stack: ArenaStack, name: str, inject: Callable[[], None]) -> None:
    before = {battle for _, battle in stack.votes_stored()}
    with Voters(stack.base_url, api_voters=16, form_voters=4) as voters:
        time.sleep(VOTING_SECONDS)
        inject()
        # Recovered: how soon does the board count every vote stored up to now (those of the outage too)?
        stored_at_recovery = len(stack.votes_stored())
        recovered = time.monotonic()
        behind = stack.wait_until(
            lambda: stack.board_vote_count() >= stored_at_recovery,
            what="the board after recovery",
            seconds=300,
        )
        time.sleep(max(0.0, VOTING_SECONDS - (time.monotonic() - recovered)))
    catch_up = stack.wait_until(
        lambda: stack.board_vote_count() == len(stack.votes_stored()), what="the board", seconds=300
    )
    stored = [battle for _, battle in stack.votes_stored() if battle not in before]
    confirmed = set(voters.tally.confirmed)
    report(f"fault_{name}_votes_confirmed", len(confirmed), "votes")
    report(f"fault_{name}_votes_stored", len(stored), "votes")
    report(f"fault_{name}_votes_lost", len(confirmed - set(stored)), "votes")
    report(f"fault_{name}_votes_duplicated", len(stored) - len(set(stored)), "votes")
    report(f"fault_{name}_5xx", sum(voters.tally.server_errors.values()), "responses")
    report(f"fault_{name}_500", voters.tally.statuses.get(500, 0), "responses")
    report(f"fault_{name}_dropped_connections", voters.tally.dropped_connections, "connections")
    report(f"fault_{name}_board_counted_the_outage_seconds", behind, "s")
    report(f"fault_{name}_board_caught_up_seconds", catch_up, "s")


def test_bench_faults_under_voters():
    with arena_stack() as stack:

        def kill_worker() -> None:
            stack.worker.kill()
            time.sleep(2)
            stack.worker.start()

        def restart_redis_five_times() -> None:
            for _ in range(5):
                stack.redis.restart(down_seconds=1)
                time.sleep(2)

        def redis_down_for_a_minute() -> None:
            stack.redis.stop()
            time.sleep(60)
            stack.redis.start()

        def kill_web_workers() -> None:
            for pid in stack.web_worker_pids():
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)

        _fault(stack, "worker_sigkill", kill_worker)
        _fault(stack, "redis_restart_x5", restart_redis_five_times)
        _fault(stack, "redis_down_60s", redis_down_for_a_minute)
        _fault(stack, "postgres_restart", lambda: stack.postgres.restart(down_seconds=2))
        _fault(stack, "gunicorn_worker_sigkill", kill_web_workers)
