"""GET /metrics: Prometheus's text format, for staff or the scrape token only, with the dashboard's
figures (read from the stores when scraped: every web process answers the same)."""

import datetime as dt

import httpx
import pytest
import respx
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from battles.models import Answer
from battles.services.generation import answer_generate
from battles.services.tallies import vote_rejection_count, votes_tally
from ratings.services import ratings_refresh
from tests.factories import AnswerFactory, ContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"
ENDPOINT = "http://models.test/v1/chat/completions"


def samples(response) -> dict[tuple[str, tuple], float]:
    """Every sample, keyed (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(settings) -> dict[tuple[str, tuple], float]:
    settings.ARENA_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response)


def test_metrics_need_the_token_or_staff(settings, django_user_model):
    settings.ARENA_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    settings.ARENA_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    voter = django_user_model.objects.create_user("someone", password="a-long-password-1")
    assert (
        Client()
        .get("/metrics", HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=voter).key}")
        .status_code
        == 401
    )
    staff = django_user_model.objects.create_user("operator", password="a-long-password-1", is_staff=True)
    assert (
        Client()
        .get("/metrics", HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
        .status_code
        == 200
    )
    client = Client()
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


@respx.mock
def test_answer_times_and_a_paused_contender_are_in_the_metrics(settings):
    settings.ARENA_CONTENDER_FAILURE_THRESHOLD = 2
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 1
    steady = ContenderFactory(name="steady", stream=False)
    respx.post(ENDPOINT).mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": "An answer."}, "finish_reason": "stop"}]}
        )
    )
    for _ in range(3):
        answer_generate(answer_id=AnswerFactory(contender=steady, status=Answer.Status.PENDING, text="").pk)
    flaky = ContenderFactory(name="flaky", stream=False)
    respx.post(ENDPOINT).mock(return_value=httpx.Response(503, text="down"))
    for _ in range(2):
        answer_generate(answer_id=AnswerFactory(contender=flaky, status=Answer.Status.PENDING, text="").pk)

    found = scrape(settings)
    steady_label = (("contender", "steady"),)
    assert found[("arena_endpoint_answer_seconds_count", steady_label)] == 3
    assert found[("arena_endpoint_answer_seconds_bucket", (("contender", "steady"), ("le", "+Inf")))] == 3
    assert found[("arena_endpoint_answer_seconds_bucket", (("contender", "steady"), ("le", "0.5")))] == 3
    assert found[("arena_contender_paused", (("contender", "flaky"),))] == 1
    assert found[("arena_contender_paused", steady_label)] == 0
    assert found[("arena_contender_failures_in_a_row", (("contender", "flaky"),))] == 2
    assert found[("arena_answers", (("state", "done"),))] == 3
    assert found[("arena_answers", (("state", "failed"),))] == 2


def test_votes_refusals_and_a_stale_snapshot_are_in_the_metrics(settings):
    for _ in range(4):
        VoteFactory()
    ratings_refresh()
    VoteFactory()
    for code in ["too_early", "too_early", "ip_rate"]:
        vote_rejection_count(code=code)
    votes_tally()
    found = scrape(settings)
    assert found[("arena_votes_total", ())] == 5
    assert found[("arena_votes_refused_total", (("reason", "too_early"),))] == 2
    assert found[("arena_votes_refused_total", (("reason", "ip_rate"),))] == 1
    assert 0 <= found[("arena_snapshot_age_seconds", (("board", "all"),))] < 60
    assert found[("arena_pool_target", ())] == settings.ARENA_POOL_TARGET
    assert found[("arena_store_up", (("store", "database"),))] == 1
    assert found[("arena_queue_messages", (("queue", "generation"),))] == 0


def test_the_answer_time_histogram_puts_each_answer_in_its_bucket():
    from battles.models import ContenderLatency
    from battles.services.tallies import answer_latency_count

    contender = ContenderFactory()
    for latency_ms in [400, 500, 501, 9_000, 400_000]:
        answer_latency_count(contender_id=contender.pk, latency_ms=latency_ms)
    row = ContenderLatency.objects.get(contender=contender)
    assert row.bucket_counts() == [2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert (row.answers, row.total_ms) == (5, 410_401)


def test_a_metrics_scrape_reads_no_more_with_more_contenders(settings, django_assert_max_num_queries):
    def queries_for(count: int) -> int:
        for contender in ContenderFactory.create_batch(count):
            AnswerFactory(contender=contender, finished_at=timezone.now() - dt.timedelta(minutes=5))
        with django_assert_max_num_queries(40) as captured:
            scrape(settings)
        return len(captured.captured_queries)

    assert queries_for(2) == queries_for(20)
