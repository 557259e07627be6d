"""`manage.py arena_run`, the command behind `make run`, in the embedded mode (SQLite, file-system
broker, no server), driven over plain HTTP the way a user's browser would."""

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedArena:
    def __init__(self, var_dir: Path) -> None:
        web_port, demo_port = free_port(), free_port()
        self.var_dir = var_dir
        self.base_url = f"http://127.0.0.1:{web_port}"
        self.environment = {
            key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}
        } | {
            "ARENA_VAR_DIR": str(var_dir),
            "ARENA_BIND": f"127.0.0.1:{web_port}",
            "ARENA_DEMO_ENDPOINT_URL": f"http://127.0.0.1:{demo_port}/v1",
            "ARENA_DEMO_LATENCY_SCALE": "0.05",
            "ARENA_POOL_TARGET": "6",
            "ARENA_VOTE_MIN_SECONDS": "0",
            "DJANGO_SETTINGS_MODULE": "arena.settings",
            "PYTHONUNBUFFERED": "1",  # its log lines reach the test as they are written
        }
        self._lines: list[str] = []
        self._browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "arena_run"],
            cwd=ROOT,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def get(self, path: str) -> str:
        return self._browser.open(self.base_url + path, timeout=10).read().decode()

    def wait_for_battle(self) -> str:
        """The home page once it shows a battle to vote on."""

        def battle_page() -> str | None:
            assert self.process.poll() is None, self.output
            with contextlib.suppress(OSError):
                html = self.get("/")
                if 'class="verdicts"' in html:
                    return html
            return None

        return wait_until(battle_page, timeout_seconds=180, interval_seconds=0.5, message="no battle served")

    def vote(self, battle_page: str, outcome: str) -> tuple[str, str]:
        """Vote on the battle of a page; returns the revealed names of A and B."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', battle_page)
        action = re.search(r'<form class="verdicts" method="post" action="([^"]+)"', battle_page)
        assert token is not None and action is not None, battle_page
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "outcome": outcome}).encode()
        request = urllib.request.Request(self.base_url + action.group(1), data=body)
        reveal = self._browser.open(request, timeout=10).read().decode()
        name_a, name_b = re.findall(r'class="model-name"[^>]*>([^<]+)</a>', reveal)
        return name_a, name_b

    def wait_for_leaderboard_page_with(self, *names: str) -> str:
        """The leaderboard page once it lists all these contenders."""

        def board() -> str | None:
            with contextlib.suppress(OSError):
                page = self.get("/leaderboard/")
                if all(name in page for name in names):
                    return page
            return None

        return wait_until(board, timeout_seconds=180, interval_seconds=0.5, message=f"{names} never listed")

    def leaderboard(self) -> dict[str, dict[str, Any]]:
        """The latest leaderboard as `manage.py leaderboard --json` prints it, by contender name."""
        printed = subprocess.run(
            [sys.executable, "manage.py", "leaderboard", "--json"],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {row["name"]: row for row in json.loads(printed)}

    def interrupt(self) -> int:
        """Ctrl-C, then wait for it to finish stopping."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            returncode = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._reader.join(timeout=10)
        return returncode


# -- the process tree, read from /proc


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the field after the command name on (state, ppid, pgrp, session, ...)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def live_processes() -> dict[int, list[str]]:
    """Every process that is not a zombie, with its stat fields."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) and fields[0] != "Z":
            found[int(entry.name)] = fields
    return found


def children_of(parent: int) -> list[int]:
    return [pid for pid, fields in live_processes().items() if int(fields[1]) == parent]


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def in_sessions(sessions: set[int]) -> list[int]:
    """The live processes of these sessions, wherever they were re-parented to."""
    return [pid for pid, fields in live_processes().items() if int(fields[3]) in sessions]
