"""The supervisor behind `make run`: dead processes are started again after a delay that doubles up to a
cap and starts over after a healthy run; a process in a crash loop is not started again before its delay."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from battles.management.commands.arena_run import RestartPolicy, Supervisor
from tests.workers import wait_until

EXIT_3 = [sys.executable, "-c", "raise SystemExit(3)"]
KILLS_ITSELF = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
SLEEPS = [sys.executable, "-c", "import time; time.sleep(600)"]
IGNORES_SIGTERM = (
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
)
QUICK = RestartPolicy(first_delay_seconds=0.01, max_delay_seconds=0.04, healthy_after_seconds=3600)


@contextmanager
def supervising(commands: dict[str, list[str]], policy: RestartPolicy) -> Iterator[tuple[Supervisor, list]]:
    lines: list[str] = []
    supervisor = Supervisor(commands, log=lines.append, policy=policy)
    supervisor.start()
    try:
        yield supervisor, lines
    finally:
        supervisor.stop(grace_seconds=5)


def tend_until_logged(supervisor: Supervisor, lines: list[str], count: int) -> list[str]:
    wait_until(lambda: supervisor.tend() or len(lines) >= count, timeout_seconds=60, interval_seconds=0.01)
    return lines[:count]


def test_a_process_dying_at_once_is_restarted_with_a_doubling_delay_up_to_the_cap():
    with supervising({"crasher": EXIT_3}, QUICK) as (supervisor, lines):
        assert tend_until_logged(supervisor, lines, 5) == [
            "crasher exited with code 3; restarting it in 0.01 s (restart 1)",
            "crasher exited with code 3; restarting it in 0.02 s (restart 2)",
            "crasher exited with code 3; restarting it in 0.04 s (restart 3)",
            "crasher exited with code 3; restarting it in 0.04 s (restart 4)",
            "crasher exited with code 3; restarting it in 0.04 s (restart 5)",
        ]


def test_the_delay_starts_over_after_a_healthy_run_and_the_signal_is_named():
    policy = RestartPolicy(first_delay_seconds=0.01, max_delay_seconds=0.04, healthy_after_seconds=0)
    with supervising({"crasher": KILLS_ITSELF}, policy) as (supervisor, lines):
        assert tend_until_logged(supervisor, lines, 3) == [
            f"crasher was killed by SIGKILL; restarting it in 0.01 s (restart {number})"
            for number in (1, 2, 3)
        ]


def test_a_dead_process_is_not_started_again_before_its_delay():
    policy = RestartPolicy(first_delay_seconds=3600, max_delay_seconds=3600, healthy_after_seconds=3600)
    with supervising({"crasher": EXIT_3, "sleeper": SLEEPS}, policy) as (supervisor, lines):
        sleeper = supervisor.pids()["sleeper"]
        assert tend_until_logged(supervisor, lines, 1) == [
            "crasher exited with code 3; restarting it in 3600 s (restart 1)"
        ]
        for _ in range(200):  # a loop that would spin on a crash loop without the delay
            supervisor.tend()
        assert lines == ["crasher exited with code 3; restarting it in 3600 s (restart 1)"]
        assert supervisor.pids() == {"crasher": None, "sleeper": sleeper}


def test_stop_terminates_every_process_and_kills_one_that_ignores_sigterm(tmp_path):
    ignoring = tmp_path / "ignoring-sigterm"
    stubborn = [sys.executable, "-c", IGNORES_SIGTERM, str(ignoring)]
    lines: list[str] = []
    supervisor = Supervisor({"sleeper": SLEEPS, "stubborn": stubborn}, log=lines.append)
    supervisor.start()
    pids = supervisor.pids()
    wait_until(ignoring.exists, timeout_seconds=60, message="the stubborn process never started")
    supervisor.stop(grace_seconds=1)
    assert lines == ["stubborn did not stop in 1 s; killing it"]
    for pid in pids.values():
        assert pid is not None and not os.path.exists(f"/proc/{pid}")
