"""Run the whole arena in one terminal: web, worker, beat and the demo endpoint. Ctrl-C stops them all."""

import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from arena.env import env_int, env_str
from battles.models import Contender, Question

_STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Migrate, load the demo on first start, and run web + worker + beat (+ the demo endpoint)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=env_str("ARENA_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=env_int("ARENA_WEB_WORKERS", 2, minimum=1))
        parser.add_argument(
            "--worker-concurrency", type=int, default=env_int("ARENA_WORKER_CONCURRENCY", 16, minimum=1)
        )
        parser.add_argument("--no-demo", action="store_true", help="Neither load nor serve the demo models.")

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
        # One worker for both queues: "generation" (endpoint calls) and "celery" (pool, ratings, sweeps).
        worker = "-m celery -A arena worker --pool threads -Q celery,generation --loglevel INFO"
        concurrency = str(options["worker_concurrency"])
        commands["worker"] = [
            python,
            *worker.split(),
            "--concurrency",
            concurrency,
            "--without-gossip",
            "--without-mingle",
        ]
        beat_schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
        commands["beat"] = [
            python,
            *["-m", "celery", "-A", "arena", "beat", "--loglevel", "INFO", "--schedule"],
            beat_schedule,
        ]
        web = "-m gunicorn arena.wsgi --threads 4 --access-logfile -"
        commands["web"] = [
            python,
            *web.split(),
            "--bind",
            options["bind"],
            "--workers",
            str(options["web_workers"]),
        ]
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                # A session of their own: Ctrl-C reaches only this process, which stops them in order.
                processes[name] = subprocess.Popen(command, start_new_session=True)  # noqa: S603
            from battles.tasks import battle_pool_refill_task

            battle_pool_refill_task.delay()
            self.stdout.write(
                self.style.SUCCESS(f"Arena is running at http://{options['bind']}/  (Ctrl-C stops it)")
            )
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the rest")
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            self._stop_all(processes)

    def _stop_all(self, processes: dict[str, "subprocess.Popen[bytes]"]) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for name, process in processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {_STOP_GRACE_SECONDS} s; killing it")
                process.kill()
                process.wait()
        self.stdout.write("Arena stopped.")
