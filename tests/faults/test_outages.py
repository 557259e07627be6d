"""Store outages and crashes under voters: a whole arena (gunicorn, a Celery worker, beat) on a
private PostgreSQL and a private Redis, with 20 voters voting through the API and the HTML form.
After each fault: no vote lost or duplicated, no 500, and the board counts every vote."""

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tests.stack import ArenaStack, Voters, arena_stack

pytestmark = [pytest.mark.slow]

API_VOTERS, FORM_VOTERS = 16, 4
VOTING_SECONDS = 3.0  # before the fault, and again after it
CATCH_UP_BOUND_SECONDS = 90  # beat refreshes every 5 s here; the worker may wait up to 30 s to reconnect


@pytest.fixture(scope="module")
def stack() -> Iterator[ArenaStack]:
    with arena_stack() as running:
        yield running


def _under_voters(stack: ArenaStack, fault: Callable[[], None]) -> tuple[Voters, float]:
    """Vote, inject the fault, vote again; then wait for the board to count every stored vote."""
    stack.votes_before = {battle for _, battle in stack.votes_stored()}
    with Voters(stack.base_url, api_voters=API_VOTERS, form_voters=FORM_VOTERS) as voters:
        time.sleep(VOTING_SECONDS)
        fault()
        time.sleep(VOTING_SECONDS)
    catch_up = stack.wait_until(
        lambda: stack.board_vote_count() == len(stack.votes_stored()),
        what="the board counting every vote\n" + stack.logs(),
        seconds=CATCH_UP_BOUND_SECONDS,
    )
    # Every process is still there, and the arena reports itself ready again.
    assert all(p.process.poll() is None for p in (stack.web, stack.worker, stack.beat)), stack.logs()
    stack.wait_until(
        lambda: stack.get("/health/ready/").json()["status"] == "ready",
        what="readiness after the fault\n" + stack.get("/health/ready/").text,
        seconds=CATCH_UP_BOUND_SECONDS,
    )
    tally = voters.tally
    print(  # the figures of the fault, for whoever runs the test with -s
        f"\nFAULT {fault.__name__}: {len(tally.confirmed)} votes confirmed, {len(stack.votes_stored())} "
        f"stored; statuses {dict(sorted(tally.statuses.items()))}; {tally.dropped_connections} dropped "
        f"connections; board counted every vote {catch_up:.1f} s after voting stopped"
    )
    return voters, catch_up


def _assert_nothing_lost_or_doubled(stack: ArenaStack, voters: Voters) -> None:
    stored = [(vote, battle) for vote, battle in stack.votes_stored() if battle not in stack.votes_before]
    stored_battles = [battle for _, battle in stored]
    assert len(stored_battles) == len(set(stored_battles))  # one vote per battle
    assert set(voters.tally.confirmed) == set(stored_battles), stack.logs()  # every confirmed vote, no other
    by_battle = {battle: vote for vote, battle in stored}
    for battle, vote in voters.tally.confirmed.items():
        if vote is not None:  # the API says which vote it stored
            assert by_battle[battle] == vote
    assert len(voters.tally.confirmed) > 20  # the voters really voted


def test_redis_restarted_five_times_under_voters(stack: ArenaStack) -> None:
    def restart_five_times() -> None:
        for _ in range(5):
            stack.redis.restart(down_seconds=0.5)
            time.sleep(1)

    voters, _ = _under_voters(stack, restart_five_times)
    _assert_nothing_lost_or_doubled(stack, voters)
    assert voters.tally.server_errors == {}
    assert stack.worker.process.poll() is None, stack.logs()  # the worker reconnected by itself
    assert "Unrecoverable error" not in stack.worker.output()


def test_redis_down_for_a_while_under_voters(stack: ArenaStack) -> None:
    def down_for_a_while() -> None:
        stack.redis.stop()
        time.sleep(10)
        stack.redis.start()

    voters, _ = _under_voters(stack, down_for_a_while)
    _assert_nothing_lost_or_doubled(stack, voters)
    assert voters.tally.server_errors == {}
    assert stack.worker.process.poll() is None, stack.logs()
    outages = stack.sql("SELECT store, ended_at IS NOT NULL, fallback_total FROM arena_storeoutage")
    assert {store for store, _, _ in outages} >= {"cache"}  # recorded for staff
    assert sum(total for _, _, total in outages) > 0

    # Each process ends the outage at its next call to Redis: one that had no request since Redis came
    # back has not yet. A few page views reach them all.
    def ended() -> bool:
        stack.get("/")
        rows = stack.sql("SELECT ended_at IS NOT NULL FROM arena_storeoutage")
        return all(is_ended for (is_ended,) in rows)

    stack.wait_until(ended, what="every outage ended\n" + stack.logs(), seconds=CATCH_UP_BOUND_SECONDS)


def test_postgres_restarted_under_voters(stack: ArenaStack) -> None:
    voters, _ = _under_voters(stack, lambda: stack.postgres.restart(down_seconds=1.0))
    _assert_nothing_lost_or_doubled(stack, voters)
    # A request in flight when the server stopped answers 503 (with Retry-After); none answers 500.
    assert set(voters.tally.server_errors) <= {503}
    assert stack.worker.process.poll() is None, stack.logs()


def test_worker_killed_and_started_again_under_voters(stack: ArenaStack) -> None:
    def kill_and_start() -> None:
        stack.worker.kill()
        time.sleep(1)
        stack.worker.start()

    voters, _ = _under_voters(stack, kill_and_start)
    _assert_nothing_lost_or_doubled(stack, voters)
    assert voters.tally.server_errors == {}


def test_web_worker_killed_mid_request_under_voters(stack: ArenaStack) -> None:
    def kill_web_workers() -> None:
        for pid in stack.web_worker_pids():
            os.kill(pid, signal.SIGKILL)  # gunicorn's master starts new ones
            time.sleep(1)

    voters, _ = _under_voters(stack, kill_web_workers)
    _assert_nothing_lost_or_doubled(stack, voters)
    assert voters.tally.server_errors == {}
