"""Run the whole arena in one terminal: web, worker, beat and the demo endpoint.

A process that dies is started again after a delay that doubles with each quick death; only Ctrl-C
(SIGINT) or SIGTERM stops them all.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from arena import stores
from arena.env import env_int, env_str
from battles.models import Contender, Question

_STOP_GRACE_SECONDS = 10
_TEND_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff: a process that keeps dying at once is retried ever less often, up to the cap;
    one that ran healthily for a while before dying starts again from the first delay."""

    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    healthy_after_seconds: float = 60.0


@dataclass
class _Child:
    name: str
    command: list[str]
    process: "subprocess.Popen[bytes] | None" = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while the process is dead and waiting to be started again
    next_delay_seconds: float = 0.0
    restarts: int = 0


def exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Keeps a set of commands running, each in a session of its own."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        *,
        log: Callable[[str], Any],
        policy: RestartPolicy = RestartPolicy(),
    ) -> None:
        self.policy = policy
        self._log = log
        self._children = [
            _Child(name, command, next_delay_seconds=policy.first_delay_seconds)
            for name, command in commands.items()
        ]

    def start(self) -> None:
        for child in self._children:
            self._start(child)

    def pids(self) -> dict[str, int | None]:
        """The process id of each command; None while it waits to be started again."""
        return {child.name: child.process.pid if child.process else None for child in self._children}

    def tend(self) -> None:
        """Notice the processes that died and start again those whose delay has passed."""
        now = time.monotonic()
        for child in self._children:
            if child.process is not None and child.process.poll() is not None:
                self._schedule_restart(child, now)
            if child.restart_at is not None and child.restart_at <= now:
                self._start(child)

    def stop(self, *, grace_seconds: float) -> None:
        """SIGTERM to every running process, the last started first; SIGKILL what is left after the grace."""
        running = [child for child in reversed(self._children) if child.process is not None]
        for child in running:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log(f"{child.name} did not stop in {grace_seconds:g} s; killing it")
                child.process.kill()
                child.process.wait()
            _kill_group(child.process.pid)

    def _start(self, child: _Child) -> None:
        # A session of its own: Ctrl-C reaches only this process, which stops them in order.
        child.process = subprocess.Popen(child.command, start_new_session=True)  # noqa: S603
        child.started_at = time.monotonic()
        child.restart_at = None

    def _schedule_restart(self, child: _Child, now: float) -> None:
        assert child.process is not None
        returncode = child.process.returncode
        # What the dead process left behind (gunicorn's workers holding the port) goes with it.
        _kill_group(child.process.pid)
        child.process = None
        if now - child.started_at >= self.policy.healthy_after_seconds:
            child.next_delay_seconds = self.policy.first_delay_seconds
        delay = child.next_delay_seconds
        child.next_delay_seconds = min(delay * 2, self.policy.max_delay_seconds)
        child.restarts += 1
        child.restart_at = now + delay
        self._log(
            f"{child.name} {exit_description(returncode)}; "
            f"restarting it in {delay:g} s (restart {child.restarts})"
        )


def _answers(url: str) -> bool:
    """Whether the web server answers this URL with 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (our own http URL)
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _banner(base_url: str, *, style: Callable[[str], str]) -> str:
    rule = "─" * 64
    lines = [
        rule,
        style(f"  Arena is running at {base_url}/"),
        f"  Admin and dashboard   {base_url}/admin/  (manage.py createsuperuser makes a login)",
        f"  API docs              {base_url}/api/docs/",
        f"  Leaderboard           {base_url}/leaderboard/",
        "  Ctrl-C stops everything. More detail in the log: make run ARGS=--verbose",
        rule,
    ]
    return "\n".join(lines)


def _kill_group(process_group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


class Command(BaseCommand):
    help = "Migrate, load the demo on first start, and run web + worker + beat (+ the demo endpoint)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=env_str("ARENA_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=env_int("ARENA_WEB_WORKERS", 2, minimum=1))
        parser.add_argument(
            "--worker-concurrency", type=int, default=env_int("ARENA_WORKER_CONCURRENCY", 16, minimum=1)
        )
        parser.add_argument("--no-demo", action="store_true", help="Neither load nor serve the demo models.")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="The worker's and beat's every task and the web server's every request in the log.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready")
        if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
            call_command("createcachetable", verbosity=0)
        first_start = not Question.objects.exists() and not Contender.objects.exists()
        if not options["no_demo"]:
            # First start: the demo bank and contenders. Later: keep the demo contenders (if still
            # there) pointed at this run's demo endpoint.
            call_command("demo_load", update_only=not first_start, stdout=self.stdout)

        python = sys.executable
        commands: dict[str, list[str]] = {}
        if not options["no_demo"]:
            demo = urlsplit(settings.ARENA_DEMO_ENDPOINT_URL)
            host, port = demo.hostname or "127.0.0.1", str(demo.port or 8001)
            commands["demo endpoint"] = [
                python,
                *["-m", "battles.demo.endpoint", "--quiet", "--host"],
                host,
                "--port",
                port,
            ]
        # Quiet by default: warnings and errors only (a task a second is not news), no Celery banners;
        # --verbose for all. LOG_LEVEL, if set, is the processes' own choice.
        level = "INFO" if options["verbose"] else "WARNING"
        os.environ.setdefault("LOG_LEVEL", level)
        quiet = [] if options["verbose"] else ["--quiet"]
        # One worker for both queues: "generation" (endpoint calls) and "celery" (pool, ratings, sweeps).
        concurrency = str(options["worker_concurrency"])
        commands["worker"] = [
            python,
            *["-m", "celery", "-A", "arena", *quiet, "worker", "--pool", "threads"],
            *["-Q", "celery,generation", "--loglevel", level, "--concurrency", concurrency],
            "--without-gossip",
            "--without-mingle",
        ]
        beat_schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
        commands["beat"] = [
            python,
            *["-m", "celery", "-A", "arena", *quiet, "beat", "--loglevel", level, "--schedule"],
            beat_schedule,
        ]
        # The same log format as the worker's, beat's and Django's (arena/gunicorn_conf.py).
        web = "-m gunicorn arena.wsgi --threads 4 --config python:arena.gunicorn_conf"
        commands["web"] = [
            python,
            *web.split(),
            *(["--access-logfile", "-"] if options["verbose"] else []),
            "--bind",
            options["bind"],
            "--workers",
            str(options["web_workers"]),
        ]
        supervisor = Supervisor(commands, log=self.stderr.write)
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            supervisor.start()
            from battles.tasks import battle_pool_refill_task

            # Without the broker (Redis away at start), beat refills the pool once it is back.
            stores.call(
                stores.BROKER, "queue a pool refill", battle_pool_refill_task.delay, fallback=lambda: None
            )
            base_url = f"http://{options['bind']}"
            announced = False
            while not stopping:
                supervisor.tend()
                if not announced and _answers(base_url + "/health/"):
                    # Once the web server answers, not before: the address works when it is shown.
                    self.stdout.write(_banner(base_url, style=self.style.SUCCESS))
                    announced = True
                time.sleep(_TEND_INTERVAL_SECONDS)
        finally:
            supervisor.stop(grace_seconds=_STOP_GRACE_SECONDS)
            self.stdout.write("Arena stopped.")
