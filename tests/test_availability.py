"""Liveness, readiness, and a 503 (never a 500) when the database goes away."""

import json
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from arena import stores
from arena.models import PeriodicTaskRun, WorkerHeartbeat
from arena.selectors import PERIODIC_TASKS
from battles.models import Battle
from tests.factories import BattleFactory
from tests.fault_server import unused_port

pytestmark = pytest.mark.django_db

# The pool's check with one ready battle (readiness counts each state up to `counted_up_to`).
POOL_OF_ONE_READY_BATTLE = {
    "status": "ok",
    "target": 20,
    "ready": 1,
    "held": 0,
    "generating": 0,
    "counted_up_to": 1000,
}


def test_liveness_touches_no_store(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def _all_is_well(now=None):  # type: ignore[no-untyped-def]
    now = now or timezone.now()
    WorkerHeartbeat.objects.create(
        name="celery@host:1",
        pid=1,
        queues="celery,generation",
        started_at=now - timedelta(hours=2),
        last_seen_at=now,
        tasks_done=7,
    )
    for task in PERIODIC_TASKS:
        PeriodicTaskRun.objects.create(task=task, last_run_at=now, runs=3)
    BattleFactory(status=Battle.Status.READY)


@pytest.fixture
def staff(client, django_user_model):  # type: ignore[no-untyped-def]
    client.force_login(
        django_user_model.objects.create_user("ops", password="a-long-password", is_staff=True)
    )
    return client


def test_ready_when_every_check_passes(staff):
    _all_is_well()
    response = staff.get("/health/ready/")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ready"
    checks = report["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "workers": "ok",
        "beat": "ok",
        "pool": "ok",
    }
    assert checks["workers"]["alive"] == 1 and checks["workers"]["workers"][0]["tasks_done"] == 7
    assert checks["pool"] == POOL_OF_ONE_READY_BATTLE
    assert set(checks["beat"]["tasks"]) == set(PERIODIC_TASKS)
    assert response["Cache-Control"] == "no-store"


def test_anyone_sees_the_statuses_and_only_staff_the_details(client):
    _all_is_well()
    report = client.get("/health/ready/").json()
    assert report["status"] == "ready" and set(report) == {"status", "checks"}
    assert report["checks"]["workers"] == {"status": "ok", "alive": 1}
    assert report["checks"]["pool"] == POOL_OF_ONE_READY_BATTLE
    assert "celery@host" not in json.dumps(report)


def test_not_ready_when_no_battle_is_ready_and_no_worker_is_alive(staff):
    client = staff
    WorkerHeartbeat.objects.create(
        name="celery@gone:1",
        pid=1,
        started_at=timezone.now() - timedelta(hours=1),
        last_seen_at=timezone.now() - timedelta(minutes=5),
    )
    response = client.get("/health/ready/")
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "not_ready"
    assert report["checks"]["workers"]["status"] == "missing"
    assert report["checks"]["workers"]["workers"][0]["alive"] is False
    assert report["checks"]["pool"]["status"] == "empty"


def test_degraded_when_beat_is_late_and_strict_monitors_get_503(staff):
    client = staff
    now = timezone.now()
    _all_is_well(now)
    PeriodicTaskRun.objects.filter(task="battle_pool_refill_task").update(
        last_run_at=now - timedelta(minutes=5)
    )
    response = client.get("/health/ready/")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["beat"]["status"] == "late"
    assert report["checks"]["beat"]["late"] == ["battle_pool_refill_task"]
    assert client.get("/health/ready/?strict=1").status_code == 503


def test_degraded_not_down_when_redis_is_unreachable(staff):
    client = staff
    _all_is_well()
    closed = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    with override_settings(CACHES=closed):
        stores.reset_for_tests()
        response = client.get("/health/ready/")
    stores.reset_for_tests()
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["cache"]["status"] == "unreachable"
    assert "Connection refused" in report["checks"]["cache"]["error"]


@override_settings(ROOT_URLCONF="tests.database_errors_urls")
def test_a_lost_database_connection_answers_503_with_the_error_body_on_the_api():
    response = Client(raise_request_exception=False).post("/api/v1/lost/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "status": 503,
            "code": "database_unavailable",
            "message": "the database cannot be reached; try again in 5 seconds "
            "(retrying is safe: a vote is counted once)",
            "fields": {},
        }
    }


@override_settings(ROOT_URLCONF="tests.database_errors_urls")
def test_a_lost_database_connection_answers_a_page_that_tries_again():
    response = Client(raise_request_exception=False).get("/lost/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    page = response.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "请稍候" in page and "Back in a moment" in page
    posted = Client(raise_request_exception=False).post("/lost/")
    assert posted.status_code == 503 and "http-equiv" not in posted.content.decode()
    assert "sending it twice is safe" in posted.content.decode()


def test_outside_a_view_the_handler_answers_503_too(settings):
    settings.ROOT_URLCONF = "tests.database_errors_urls"
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "arena.availability.DatabaseUnavailableMiddleware"
    ]
    response = Client(raise_request_exception=False).get("/api/v1/lost/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
