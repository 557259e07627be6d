"""Private Redis and PostgreSQL servers on free ports, for fault tests that stop and start them.

The shared servers on 5432 and 6379 are never touched. Each private server lives in a temporary
folder (Redis) or its own cluster (PostgreSQL, `pg_createcluster`), removed afterwards.

    with private_redis() as store:
        store.url(3)             # redis://127.0.0.1:<port>/3
        store.stop(); store.start(); store.restart()
    with private_postgres() as server:
        server.url("arena")      # postgres://postgres@127.0.0.1:<port>/arena
        server.stop(); server.start()
"""

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg2
import redis

from tests.fault_server import unused_port

_WAIT_SECONDS = 60


def _wait(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline:
        with suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up within {_WAIT_SECONDS} s")


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.port = unused_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"],
                *["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: redis.Redis(port=self.port, socket_connect_timeout=0.5).ping(), "redis")

    def stop(self) -> None:
        """As a crash or a restart would: everything it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, *, down_seconds: float = 0.5) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


class PrivatePostgres:
    def __init__(self) -> None:
        self.version = sorted(path.name for path in Path("/etc/postgresql").iterdir())[-1]
        self.name = f"arena_fault_{uuid.uuid4().hex[:8]}"
        self.port = unused_port()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        subprocess.run(
            [
                *["pg_createcluster", self.version, self.name, "--port", str(self.port)],
                *["--", "--auth=trust", "--no-sync"],
            ],
            check=True,
            capture_output=True,
        )
        self.start()

    def start(self) -> None:
        self._ctl("start")
        _wait(self._accepts, "postgresql")

    def stop(self, *, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def restart(self, *, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def create_database(self, name: str) -> None:
        db = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            db.close()

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name], check=False, capture_output=True
        )

    def _ctl(self, *arguments: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *arguments],
            check=True,
            capture_output=True,
        )

    def _accepts(self) -> bool:
        psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres").close()
        return True


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    folder = Path(tempfile.mkdtemp(prefix="arena-redis-"))
    store = PrivateRedis(folder)
    store.start()
    try:
        yield store
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.create()
        yield server
    finally:
        server.drop()
