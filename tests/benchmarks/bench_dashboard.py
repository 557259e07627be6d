"""Server time of the staff dashboard at 1.7 million votes, 130 contenders and 100,000 open battles,
with 20 endpoint contenders' 20,000 answers of the last day (the Django test client: everything
but the network), beside the admin's own index page as its floor."""

import datetime as dt
import random
import statistics
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from battles.management.seeding import arena_seed
from battles.models import Answer, Contender, Question
from battles.services.tallies import votes_tally, votes_tally_reset
from ratings.services import ratings_rebuild
from tests.benchmarks.conftest import report
from tests.factories import ContenderFactory

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 60


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _recent_answers(contenders: list[Contender]) -> None:
    rng = random.Random(3)
    now = timezone.now()
    question_ids = list(Question.objects.order_by("id").values_list("id", flat=True)[:1000])
    answers = [
        Answer(
            question_id=question_id,
            contender=contender,
            status=Answer.Status.FAILED if rng.random() < 0.03 else Answer.Status.DONE,
            text="An answer.",
            finished_at=now - dt.timedelta(seconds=rng.uniform(0, 86_400)),
            latency_ms=rng.randint(800, 40_000),
            first_token_ms=rng.randint(80, 2_000),
            completion_tokens=rng.randint(20, 900),
        )
        for contender in contenders
        for question_id in question_ids
    ]
    # Stored in the order they finished, as a live arena stores them.
    answers.sort(key=lambda answer: answer.finished_at)
    with transaction.atomic():
        Answer.objects.bulk_create(answers)


def _server_ms(client: Client, url: str) -> list[float]:
    for _ in range(5):
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return timings


def test_bench_dashboard(settings):
    # The open battles count as a live arena's (servable), not as benchmark rows left out of battles.
    settings.ARENA_SERVE_SEEDED = True
    started = time.monotonic()
    arena_seed(contenders=110, questions=2000, voters=100_000, voted_battles=1_700_000, open_battles=100_000)
    _recent_answers(ContenderFactory.create_batch(20))
    # The boards and the vote tallies a live arena keeps (what the seeding leaves to them).
    ratings_rebuild(categories=True)
    votes_tally_reset()
    votes_tally()
    # A live database is vacuumed and analysed by autovacuum as it goes; fresh bulk inserts are not.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"\nseeded in {time.monotonic() - started:.0f} s", flush=True)
    assert Contender.objects.count() == 130

    staff = get_user_model().objects.create_superuser("bench", password="a-long-password-1")
    client = Client()
    client.force_login(staff)
    dashboard = _server_ms(client, "/admin/dashboard/")
    floor = _server_ms(client, "/admin/")
    print(
        f"dashboard ms: median {statistics.median(dashboard):.1f}, p95 {_percentile(dashboard, 0.95):.1f}; "
        f"admin index ms: median {statistics.median(floor):.1f}, p95 {_percentile(floor, 0.95):.1f}"
    )
    report("dashboard_p95_ms", _percentile(dashboard, 0.95), "ms")
    report("dashboard_median_ms", statistics.median(dashboard), "ms")
    report("admin_index_p95_ms", _percentile(floor, 0.95), "ms")
    report(
        "dashboard_to_admin_index_median_ratio", statistics.median(dashboard) / statistics.median(floor), "x"
    )
