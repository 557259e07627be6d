import threading
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import override_settings

from arena import stores
from battles.demo.endpoint import make_server
from battles.services.generation import contender_cache_clear
from ratings.services.answered_votes import answered_votes_forget
from tests.fault_server import unused_port


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty Redis database (cache, locks, counters and broker queues)."""
    cache.clear()
    contender_cache_clear()
    answered_votes_forget()


@pytest.fixture(autouse=True)
def _votes_without_waiting(settings) -> None:
    """Tests vote as soon as a battle is served; the tests of the minimum reading time set it themselves."""
    settings.ARENA_VOTE_MIN_SECONDS = 0


@pytest.fixture
def demo_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The demo model endpoint on a free local port, answering without simulated latency."""
    monkeypatch.setenv("ARENA_DEMO_LATENCY_SCALE", "0")
    server = make_server("127.0.0.1", 0, log_requests=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def broker_unreachable() -> Iterator[None]:
    """The Celery broker at a port where nothing listens, as when Redis has gone away (the cache stays)."""
    from arena.celery import app

    def connect_afresh() -> None:
        # Celery keeps the pools of the broker it first connected to; kombu keeps each broker's pools,
        # open, for when it is asked for again.
        app._pool = None
        app.amqp._producer_pool = None

    stores.reset_for_tests()
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{unused_port()}/0"):
        connect_afresh()
        yield
    connect_afresh()
    stores.reset_for_tests()


@pytest.fixture
def cache_unreachable() -> Iterator[None]:
    """The cache's Redis at a port where nothing listens, as when Redis has gone away."""
    stores.reset_for_tests()
    location = f"redis://127.0.0.1:{unused_port()}/0"
    options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}}
    caches["default"]["OPTIONS"] = options
    with override_settings(CACHES=caches):
        yield
    stores.reset_for_tests()
