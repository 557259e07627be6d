"""`make run`'s command in the embedded mode (SQLite, file-system broker, no server), as a user runs it:
start it, vote over plain HTTP, see the vote on the leaderboard, stop it with Ctrl-C."""

import json

import pytest

from tests.e2e.embedded import EmbeddedArena

pytestmark = pytest.mark.slow


def test_embedded_arena_serves_a_battle_counts_a_vote_and_stops_on_ctrl_c(tmp_path):
    arena = EmbeddedArena(tmp_path / "var")
    try:
        html = arena.wait_for_battle()
        assert '<html lang="zh-Hans">' in html
        name_a, name_b = arena.vote(html, "b")
        board = arena.wait_for_leaderboard_page_with(name_a, name_b)
        assert board.index(name_b) < board.index(name_a)
        rows = arena.leaderboard()
        assert (rows[name_b]["wins"], rows[name_b]["elo"]) == (1, 1002.0)
        assert (rows[name_a]["losses"], rows[name_a]["elo"]) == (1, 998.0)
        # The exports read by raw SQL work on SQLite too, times with their zone.
        (vote,) = [json.loads(line) for line in arena.get("/api/v1/votes/export/").splitlines()]
        assert (vote["contender_a"], vote["contender_b"], vote["outcome"]) == (name_a, name_b, "b")
        assert vote["time"].endswith("+00:00")
        (battle,) = json.loads(arena.get("/api/v1/votes/export/?format=clean_battle"))
        assert battle["winner"] == "model_b" and battle["judge"].startswith("arena_user_")
        verdicts = [json.loads(line) for line in arena.get("/api/v1/verdicts/export/").splitlines()]
        assert all(verdict["time"].endswith("+00:00") for verdict in verdicts)
        # A page (SQLite wants LIMIT before OFFSET).
        assert arena.get("/api/v1/votes/export/?limit=1").splitlines() == [
            json.dumps(vote, ensure_ascii=False)
        ]
        assert len(arena.get("/api/v1/verdicts/export/?limit=1").splitlines()) == min(1, len(verdicts))
    finally:
        returncode = arena.interrupt()
    assert returncode == 0, arena.output
    assert "Arena stopped." in arena.output
    assert (tmp_path / "var" / "arena.sqlite3").exists()
    # One banner, printed once the web server answered, with the addresses a newcomer needs; quiet
    # otherwise: no Celery banner, no line per task or per request.
    output = arena.output
    assert output.count("Arena is running at ") == 1, output
    assert output.index("INFO gunicorn.error: Listening at") < output.index("Arena is running at "), output
    banner = output[output.index("Arena is running at ") :]
    assert f"{arena.base_url}/admin/" in banner and f"{arena.base_url}/api/docs/" in banner
    assert "Ctrl-C stops everything" in banner
    assert "-------------- celery@" not in output and "Task " not in output, output
    assert '"GET / HTTP/1.1"' not in output, output  # no access log unless --verbose
