"""Real Celery worker processes for tests that need the queue: the same command `make run` uses."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def worker_environment(**overrides: str) -> dict[str, str]:
    """The environment of a worker that uses the test database and the test Redis."""
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return (
        os.environ
        | {
            "DATABASE_URL": url,
            "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "arena.settings",
            "DATABASE_CONN_MAX_AGE": "0",
        }
        | overrides
    )


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout_seconds: float = 60) -> None:
        if not self._ready.wait(timeout_seconds):
            raise AssertionError("the worker did not start:\n" + "".join(self.lines[-40:]))

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a pulled plug would: no cleanup at all."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@contextmanager
def worker_process(
    *,
    queues: str = "celery,generation",
    concurrency: int = 8,
    beat_schedule: Path | None = None,
    **environment: str,
) -> Iterator[WorkerProcess]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "arena",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "-Q",
        queues,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if beat_schedule is not None:
        command += ["--beat", "--schedule", str(beat_schedule)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=worker_environment(**environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    worker = WorkerProcess(process)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def wait_until(condition, *, timeout_seconds: float, interval_seconds: float = 0.05, message: str = ""):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_seconds)
    raise AssertionError(f"timed out after {timeout_seconds} s: {message or condition}")
