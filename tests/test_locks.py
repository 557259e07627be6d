"""The arena's advisory locks: held across transactions, refused while another session holds them,
a wait that gives up after its time limit, and a holder that lets go however much keeps arriving."""

import time
import uuid

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


def test_a_run_due_within_the_gap_is_handed_to_later_without_waiting():
    name = f"test-gap-{uuid.uuid4()}"  # the gap counts from this process's last run of the name
    starts: list[float] = []
    handed: list[float] = []

    def work() -> None:
        starts.append(time.monotonic())

    def later(seconds: float) -> bool:
        handed.append(seconds)
        return True  # a task queued to run after `seconds`

    assert one_at_a_time(name, work=work, pending=lambda: False, min_gap_seconds=10, later=later) is True
    assert len(starts) == 1 and handed == []
    # Asked again within the gap: handed on with the rest of the gap, and the lock let go at once.
    assert one_at_a_time(name, work=work, pending=lambda: False, min_gap_seconds=10, later=later) is False
    assert len(starts) == 1 and len(handed) == 1 and 9 < handed[0] <= 10
    with lock_held(name) as held:
        assert held is True
    # The holder sees more arrive within the gap after its run: that run is handed on too.
    stream = f"{name}-stream"
    arrivals = [True]
    assert one_at_a_time(
        stream, work=work, pending=lambda: bool(arrivals) and arrivals.pop(), min_gap_seconds=10, later=later
    )
    assert len(starts) == 2 and len(handed) == 2 and 9 < handed[1] <= 10
    # Nothing can take it (no broker), or no `later`: the run starts at once.
    assert one_at_a_time(name, work=work, pending=lambda: False, min_gap_seconds=10, later=lambda _: False)
    assert one_at_a_time(name, work=work, pending=lambda: False, min_gap_seconds=10)
    assert len(starts) == 4
