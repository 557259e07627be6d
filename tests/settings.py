"""The project's settings, pointed at PostgreSQL and Redis on 127.0.0.1 unless the environment says
otherwise: the suite always runs on the production stack, never on the embedded SQLite default."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/arena")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# A server's key is set, never made up (arena/settings.py); the workers the tests start inherit it.
os.environ.setdefault("SECRET_KEY", "tests-only-" + "k" * 40)

from arena.settings import *  # noqa: F403
