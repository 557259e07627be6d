"""A whole arena on private stores, as an operator runs it: gunicorn, a Celery worker and beat, on a
private PostgreSQL and a private Redis that tests may stop, restart and kill; and voters that vote
through the API and the HTML form from many threads, retrying as the API says is safe.

Used by the fault tests (tests/faults/) and the load benchmark (tests/benchmarks/bench_http_votes.py).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from tests.fault_server import unused_port
from tests.private_stores import PrivatePostgres, PrivateRedis, private_postgres, private_redis

ROOT = Path(__file__).resolve().parents[1]
_CONTENDERS = ["Lantern", "Harbor", "Quill", "Meadow"]


def bank_file(folder: Path, *, questions: int = 60) -> Path:
    """A bank of our own: questions with an imported answer from each of four offline contenders, so
    every battle is ready as soon as it is drawn."""
    lines = []
    for number in range(questions):
        question_id = f"fault-{number:03d}"
        lines.append(
            {"id": question_id, "text": f"Question {number}: name {number} things.", "category": "T"}
        )
        for style, name in enumerate(_CONTENDERS):
            # Never the model's name: an answer that names a model is kept out of battles.
            answer = f"Answer {style + 1} to question {number}. " + "Detail. " * (style + number % 5)
            lines.append({"question_id": question_id, "model": name, "answer": answer})
    path = folder / "bank.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


class Process:
    """A child process whose output is kept for the test's report."""

    def __init__(self, name: str, command: list[str], environment: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = command
        self.environment = environment
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class ArenaStack:
    def __init__(
        self,
        redis: PrivateRedis,
        postgres: PrivatePostgres,
        folder: Path,
        *,
        web_workers: int = 2,
        web_threads: int = 8,
        **settings: str,
    ) -> None:
        self.redis = redis
        self.postgres = postgres
        self.folder = folder
        self.port = unused_port()
        self.votes_before: set[int] = set()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.environment = (
            os.environ
            | {
                "DJANGO_SETTINGS_MODULE": "arena.settings",
                "DATABASE_URL": postgres.url("arena"),
                "REDIS_URL": redis.url(0),
                "SECRET_KEY": "fault-tests-" + "x" * 40,
                "ARENA_VAR_DIR": str(folder / "var"),
                "ARENA_VOTE_MIN_SECONDS": "0",
                "ARENA_VOTES_PER_MINUTE_PER_VOTER": "100000",
                "ARENA_VOTES_PER_MINUTE_PER_IP": "1000000",
                "ARENA_VOTES_PER_DAY_PER_VOTER": "1000000",
                "ARENA_API_ANONYMOUS_RATE": "10000000/min",
                "ARENA_POOL_TARGET": "40",
                "ARENA_POOL_REFILL_INTERVAL_SECONDS": "2",
                "ARENA_SWEEP_INTERVAL_SECONDS": "5",
                "ARENA_RATINGS_REFRESH_INTERVAL_SECONDS": "5",
                "ARENA_BOOTSTRAP_ROUNDS": "50",
                "ARENA_WORKER_HEARTBEAT_SECONDS": "2",
                "ARENA_WORKER_STALE_SECONDS": "10",
                "ARENA_TRUST_X_FORWARDED_FOR": "true",  # each voter thread has an address of its own
                "LOG_LEVEL": "INFO",
            }
            | settings
        )
        python = sys.executable
        self.web = Process(
            "web",
            [
                *[python, "-m", "gunicorn", "arena.wsgi", "--bind", f"127.0.0.1:{self.port}"],
                *["--workers", str(web_workers), "--threads", str(web_threads), "--graceful-timeout", "5"],
            ],
            self.environment,
            folder / "web.log",
        )
        self.worker = Process(
            "worker",
            [
                *[python, "-m", "celery", "-A", "arena", "worker", "--pool", "threads", "--concurrency", "8"],
                *["-Q", "celery,generation", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            ],
            self.environment,
            folder / "worker.log",
        )
        self.beat = Process(
            "beat",
            [
                *[python, "-m", "celery", "-A", "arena", "beat", "--loglevel", "INFO"],
                *["--schedule", str(folder / "celerybeat-schedule")],
            ],
            self.environment,
            folder / "beat.log",
        )

    def manage(self, *arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def prepare(self, *, questions: int = 60) -> None:
        self.postgres.create_database("arena")
        (self.folder / "var").mkdir(exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("import_bank", str(bank_file(self.folder, questions=questions)))

    def start(self) -> None:
        for process in (self.web, self.worker, self.beat):
            process.start()
        self.wait_until(lambda: self.get("/health/").status_code == 200, what="the web server", seconds=60)
        if self.environment["ARENA_POOL_TARGET"] != "0":
            self.wait_until(lambda: self.ready_battles() > 0, what="a ready battle", seconds=60)

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            process.stop()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10)

    def sql(self, query: str) -> Any:
        db = psycopg2.connect(host="127.0.0.1", port=self.postgres.port, user="postgres", dbname="arena")
        try:
            with db.cursor() as cursor:
                cursor.execute(query)
                return cursor.fetchall()
        finally:
            db.close()

    def ready_battles(self) -> int:
        return int(self.sql("SELECT count(*) FROM battles_battle WHERE status = 'ready'")[0][0])

    def votes_stored(self) -> list[tuple[int, int]]:
        """(vote id, battle id) of every vote in the database."""
        return [(int(row[0]), int(row[1])) for row in self.sql("SELECT id, battle_id FROM battles_vote")]

    def board_vote_count(self) -> int:
        response = self.get("/api/v1/leaderboard/")
        if response.status_code != 200:
            return -1
        snapshot = response.json().get("snapshot") or {}
        return int(snapshot.get("vote_count") or 0)

    def web_worker_pids(self) -> list[int]:
        assert self.web.process is not None
        children = subprocess.run(
            ["pgrep", "-P", str(self.web.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in children.stdout.split()]

    @staticmethod
    def wait_until(condition: Callable[[], Any], *, what: str, seconds: float) -> float:
        """Seconds it took; fails after `seconds`."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            try:
                if condition():
                    return time.monotonic() - started
            except (httpx.HTTPError, psycopg2.Error):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {seconds} s")

    def logs(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.output()[-6000:]}" for p in (self.web, self.worker, self.beat))


@contextmanager
def arena_stack(*, web_workers: int = 2, web_threads: int = 8, **settings: str) -> Iterator[ArenaStack]:
    folder = Path(tempfile.mkdtemp(prefix="arena-stack-"))
    with private_redis() as redis, private_postgres() as postgres:
        stack = ArenaStack(
            redis, postgres, folder, web_workers=web_workers, web_threads=web_threads, **settings
        )
        try:
            stack.prepare()
            stack.start()
            yield stack
        finally:
            stack.stop()
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class VoteTally:
    """What the voters saw: every answer's status, and the votes the arena confirmed."""

    statuses: Counter[int] = field(default_factory=Counter)
    dropped_connections: int = 0
    confirmed: dict[int, int | None] = field(default_factory=dict)  # battle id → vote id (None: form)
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, status: int, latency_ms: float | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)

    @property
    def server_errors(self) -> dict[int, int]:
        return {status: count for status, count in self.statuses.items() if status >= 500}


_FORM_ACTION = re.compile(r'action="/battles/(\d+)/vote/"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_RETRY_SECONDS = 0.2
_GIVE_UP_SECONDS = 120


class Voters:
    """Voters in threads until stopped: most through the API, some through the HTML form. A vote is
    retried after a 5xx or a dropped connection until the arena confirms it."""

    def __init__(self, base_url: str, *, api_voters: int, form_voters: int = 0) -> None:
        self.base_url = base_url
        self.tally = VoteTally()
        self.preparing = 0  # answers "preparing": no battle ready for this voter yet
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._api_voter, args=(number,), daemon=True)
            for number in range(api_voters)
        ] + [
            threading.Thread(target=self._form_voter, args=(number,), daemon=True)
            for number in range(form_voters)
        ]

    def __enter__(self) -> "Voters":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=_GIVE_UP_SECONDS + 30)

    def _request(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = client.request(method, self.base_url + path, **kwargs)
        except httpx.TransportError:
            with self.tally.lock:
                self.tally.dropped_connections += 1
            return None
        self.tally.saw(response.status_code, (time.monotonic() - started) * 1000)
        return response

    def _until_answered(
        self, client: httpx.Client, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """Send until the arena answers without a server error (retrying is safe)."""
        deadline = time.monotonic() + _GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            response = self._request(client, method, path, **kwargs)
            if response is not None and response.status_code < 500:
                return response
            time.sleep(_RETRY_SECONDS)
        return None

    def _api_voter(self, number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(timeout=30, headers={"X-Forwarded-For": f"10.0.0.{number}"}) as client:
            token = ""
            while not self.stopping.is_set():
                headers = {"X-Arena-Voter": token} if token else {}
                response = self._until_answered(client, "POST", "/api/v1/battles/next/", headers=headers)
                if response is None or response.status_code != 200:
                    time.sleep(_RETRY_SECONDS)
                    continue
                body = response.json()
                token = body["voter_token"]
                if body["status"] != "ready":
                    with self.tally.lock:
                        self.preparing += 1
                    time.sleep(_RETRY_SECONDS)
                    continue
                battle_id = body["battle"]["id"]
                outcome = rng.choice(["a", "b", "tie", "both_bad"])
                voted = self._until_answered(
                    client,
                    "POST",
                    f"/api/v1/battles/{battle_id}/vote/",
                    headers={"X-Arena-Voter": token},
                    json={"outcome": outcome},
                )
                if voted is not None and voted.status_code in (200, 201):
                    with self.tally.lock:
                        self.tally.confirmed[battle_id] = voted.json()["id"]

    def _form_voter(self, number: int) -> None:
        rng = random.Random(1000 + number)
        with httpx.Client(timeout=30, headers={"X-Forwarded-For": f"10.1.0.{number}"}) as client:
            while not self.stopping.is_set():
                page = self._until_answered(client, "GET", "/")
                if page is None:
                    continue
                action, csrf = _FORM_ACTION.search(page.text), _CSRF.search(page.text)
                if page.status_code != 200 or action is None or csrf is None:
                    time.sleep(_RETRY_SECONDS)
                    continue
                battle_id = int(action.group(1))
                form = {
                    "outcome": rng.choice(["a", "b", "tie", "both_bad"]),
                    "csrfmiddlewaretoken": csrf.group(1),
                }
                voted = self._until_answered(
                    client,
                    "POST",
                    f"/battles/{battle_id}/vote/",
                    data=form,
                    headers={"Referer": self.base_url + "/"},
                    follow_redirects=False,
                )
                if voted is not None and voted.status_code == 303:
                    with self.tally.lock:
                        self.tally.confirmed[battle_id] = None
