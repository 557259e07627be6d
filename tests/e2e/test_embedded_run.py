"""`make run`'s command in the embedded mode (SQLite, file-system broker, no server), as a user runs it:
start it, vote over plain HTTP, see the vote on the leaderboard, stop it with Ctrl-C."""

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_embedded_arena_serves_a_battle_counts_a_vote_and_stops_on_ctrl_c(tmp_path):
    web_port, demo_port = free_port(), free_port()
    environment = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}
    } | {
        "ARENA_VAR_DIR": str(tmp_path / "var"),
        "ARENA_BIND": f"127.0.0.1:{web_port}",
        "ARENA_DEMO_ENDPOINT_URL": f"http://127.0.0.1:{demo_port}/v1",
        "ARENA_DEMO_LATENCY_SCALE": "0.05",
        "ARENA_POOL_TARGET": "6",
        "ARENA_VOTE_MIN_SECONDS": "0",
        "DJANGO_SETTINGS_MODULE": "arena.settings",
    }
    arena = subprocess.Popen(
        [sys.executable, "manage.py", "arena_run"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        deadline = time.monotonic() + 90
        html = ""
        while 'class="verdicts"' not in html:
            assert time.monotonic() < deadline, "no battle within 90 s"
            assert arena.poll() is None, arena.stdout.read() if arena.stdout else ""
            with contextlib.suppress(OSError):
                html = browser.open(base + "/", timeout=5).read().decode()
            time.sleep(0.5)
        assert '<html lang="zh-Hans">' in html
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        action = re.search(r'<form class="verdicts" method="post" action="([^"]+)"', html).group(1)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "outcome": "b"}).encode()
        reveal = browser.open(urllib.request.Request(base + action, data=body), timeout=10).read().decode()
        name_a, name_b = re.findall(r"<dd>([^<]+)</dd>", reveal)
        voted = time.monotonic()
        while time.monotonic() - voted < 10:
            board = browser.open(base + "/leaderboard/", timeout=5).read().decode()
            if name_b in board:
                break
            time.sleep(0.2)
        assert board.index(name_b) < board.index(name_a)
        printed = subprocess.run(
            [sys.executable, "manage.py", "leaderboard", "--json"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = {row["name"]: row for row in json.loads(printed)}
        assert (rows[name_b]["wins"], rows[name_b]["elo"]) == (1, 1002.0)
        assert (rows[name_a]["losses"], rows[name_a]["elo"]) == (1, 998.0)
    finally:
        arena.send_signal(signal.SIGINT)
        output, _ = arena.communicate(timeout=30)
    assert arena.returncode == 0, output
    assert "Arena stopped." in output
    assert (tmp_path / "var" / "arena.sqlite3").exists()
