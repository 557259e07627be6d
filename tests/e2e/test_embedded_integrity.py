"""The integrity sweep and its page in the embedded mode's database (SQLite, as `make run` without
DATABASE_URL runs them): their tests, run again on SQLite in a process of their own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_sweep_and_its_page_work_on_sqlite(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'arena.sqlite3'}"}
    finished = subprocess.run(
        [
            *[sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
            *["tests/battles/test_integrity_sweep.py", "tests/dashboard/test_integrity_page.py"],
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-2000:]
    assert " passed" in finished.stdout and "skipped" not in finished.stdout
