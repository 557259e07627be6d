"""The arena's advisory locks: held across transactions, refused while another session holds them,
a wait that gives up after its time limit, and a holder that lets go however much keeps arriving."""

import itertools
import time

import pytest
from django.db import connection

from arena.locks import lock_held, one_at_a_time
from tests.locks import another_session_holds

pytestmark = pytest.mark.django_db


def test_a_lock_another_session_holds_is_refused_or_waited_for_within_a_limit():
    with another_session_holds("test-lock"):
        with lock_held("test-lock") as held:
            assert held is False
        with lock_held("test-lock", wait=True, timeout_seconds=0.2) as held:
            assert held is False
        # The timed-out wait left this session's transaction usable.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    with lock_held("test-lock", wait=True, timeout_seconds=0.2) as held:
        assert held is True


def test_the_holder_runs_again_while_more_arrives_and_lets_go_after_its_time():
    runs: list[int] = []
    # Something new keeps arriving: the holder stops after its time instead of running for ever.
    assert (
        one_at_a_time("test-loop", work=lambda: runs.append(1), pending=lambda: True, max_seconds=0) is True
    )
    assert runs == [1]
    arrivals = [False, False, True, True]  # popped from the end: True, True, False, False
    assert one_at_a_time("test-loop", work=lambda: runs.append(2), pending=arrivals.pop) is True
    assert runs == [1, 2, 2, 2]  # twice more while something had arrived, then done
    with another_session_holds("test-loop"):
        assert one_at_a_time("test-loop", work=lambda: runs.append(3), pending=lambda: True) is False
    assert runs == [1, 2, 2, 2]


def test_runs_under_a_steady_stream_start_at_least_the_gap_apart():
    starts: list[float] = []
    arrivals = [False, False, True, True]  # something new twice, then nothing
    assert (
        one_at_a_time(
            "test-gap",
            work=lambda: starts.append(time.monotonic()),
            pending=arrivals.pop,
            min_gap_seconds=0.2,
        )
        is True
    )
    assert len(starts) == 3
    # time.sleep waits at least what it is asked to: the gaps are a lower bound, whatever the machine.
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(starts))
