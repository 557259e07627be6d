"""`make run` keeps its processes running: a worker killed with SIGKILL is started again, the arena goes
on serving and counting votes, and Ctrl-C still stops every process it started."""

import os
import signal

import pytest

from tests.e2e.embedded import EmbeddedArena, children_of, command_line, in_sessions
from tests.workers import wait_until

pytestmark = pytest.mark.slow


def worker_pid(arena: EmbeddedArena) -> int | None:
    """The Celery worker among the arena's children, once there is exactly one."""
    workers = [
        pid for pid in children_of(arena.process.pid) if {"celery", "worker"} <= set(command_line(pid))
    ]
    return workers[0] if len(workers) == 1 else None


def test_a_killed_worker_is_started_again_and_ctrl_c_still_stops_everything(tmp_path):
    arena = EmbeddedArena(tmp_path / "var")
    try:
        html = arena.wait_for_battle()
        first_worker = wait_until(lambda: worker_pid(arena), timeout_seconds=60, message="no worker")
        others = set(children_of(arena.process.pid)) - {first_worker}
        assert len(others) == 3  # web, beat and the demo endpoint

        os.kill(first_worker, signal.SIGKILL)

        wait_until(
            lambda: "worker was killed by SIGKILL; restarting it in 1 s (restart 1)\n" in arena.output,
            timeout_seconds=60,
            message="no restart line for the worker",
        )
        second_worker = wait_until(
            lambda: pid if (pid := worker_pid(arena)) not in (None, first_worker) else None,
            timeout_seconds=60,
            message="the worker was not started again",
        )
        assert set(children_of(arena.process.pid)) == others | {second_worker}  # only the worker restarted

        # The refresh this vote queues can only be run by the new worker.
        name_a, name_b = arena.vote(html, "b")
        board = arena.wait_for_leaderboard_page_with(name_a, name_b)
        assert board.index(name_b) < board.index(name_a)
        rows = arena.leaderboard()
        assert (rows[name_b]["wins"], rows[name_a]["losses"]) == (1, 1)

        sessions = others | {first_worker, second_worker}  # each child leads a session of its own
        assert len(in_sessions(sessions)) > len(others)  # gunicorn's workers too
    finally:
        returncode = arena.interrupt()

    assert returncode == 0, arena.output
    assert arena.output.count("restarting it in") == 1, arena.output
    assert "Arena stopped." in arena.output
    assert in_sessions(sessions) == []
