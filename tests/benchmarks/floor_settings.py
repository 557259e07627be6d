"""The arena's settings with one more URL: /floor/, the framework's floor for a request (the same
middleware, one database round trip), for the HTTP benchmark to compare a vote with."""

from arena.settings import *  # noqa: F403

ROOT_URLCONF = "tests.benchmarks.floor_urls"
