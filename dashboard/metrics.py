"""GET /metrics: the dashboard's figures for Prometheus.

Every value is read from PostgreSQL, Redis or the broker when scraped, never kept in a process: each
gunicorn worker answers the same, and the Celery worker's work (answers, their times, refreshes)
is in it without a metrics port of its own. Reads are the dashboard's: small tables, partial
indexes, counters kept as work happens."""

import hmac
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from rest_framework.authtoken.models import Token

from arena.selectors import pool_counted_up_to, queue_depths_of, readiness, workers_heard_from
from battles.integrity import SIGNALS
from battles.models import (
    LATENCY_BUCKETS_SECONDS,
    Answer,
    Contender,
    ContenderLatency,
    IntegritySweep,
    VoteHour,
)
from battles.services.integrity import excluded_share_last_hour, votes_left_out_by_reason
from dashboard import selectors
from ratings.selectors import boards_newest, vote_total_counted

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ArenaCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        voted = vote_total_counted()
        report = readiness(queue_depths=True)
        yield from _votes(voted)
        yield from _answers(voted, queue_depths_of(report))
        yield from _latencies()
        yield from _contenders()
        yield from _pool_and_processes(report)
        yield from _boards(now)
        yield from _coverage()
        yield from _integrity(now)


def _votes(voted: int) -> Iterator[Metric]:
    votes = CounterMetricFamily("arena_votes", "Votes recorded and counted.")
    votes.add_metric([], voted)
    yield votes
    refused = CounterMetricFamily("arena_votes_refused", "Votes refused, by reason.", labels=["reason"])
    totals: dict[str, int] = {}
    for rejections in VoteHour.objects.values_list("rejections", flat=True):
        for reason, count in rejections.items():
            totals[reason] = totals.get(reason, 0) + count
    for reason, count in sorted(totals.items()):
        refused.add_metric([reason], count)
    yield refused


def _answers(voted: int, queues: dict[str, int | None]) -> Iterator[Metric]:
    answers = GaugeMetricFamily("arena_answers", "Answers by state.", labels=["state"])
    pool = selectors.pool_state(voted=voted, up_to=pool_counted_up_to(), queues=queues)
    for state, count in pool.answers.items():
        answers.add_metric([state], count)
    answers.add_metric(["done"], Answer.objects.filter(status=Answer.Status.DONE).count())
    yield answers
    waiting = GaugeMetricFamily(
        "arena_queue_messages", "Messages waiting in each broker queue.", labels=["queue"]
    )
    for queue, depth in pool.queues.items():
        if depth is not None:
            waiting.add_metric([queue], depth)
    yield waiting
    battles = GaugeMetricFamily("arena_battles", "Battles by state.", labels=["state"])
    for row in pool.battles:
        battles.add_metric([row.state], row.count)
    yield battles


def _latencies() -> Iterator[Metric]:
    histogram = HistogramMetricFamily(
        "arena_endpoint_answer_seconds", "Time of each answer stored, per contender.", labels=["contender"]
    )
    names = dict(Contender.objects.values_list("id", "name"))
    for row in ContenderLatency.objects.order_by("contender_id"):
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS_SECONDS, float("inf")), row.bucket_counts(), strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        histogram.add_metric(
            [names.get(row.contender_id, str(row.contender_id))], buckets, row.total_ms / 1000
        )
    yield histogram


def _contenders() -> Iterator[Metric]:
    paused = GaugeMetricFamily(
        "arena_contender_paused", "1 while a contender is paused.", labels=["contender"]
    )
    failures = GaugeMetricFamily(
        "arena_contender_failures_in_a_row", "Failed calls in a row, per contender.", labels=["contender"]
    )
    for name, paused_until, failed in Contender.objects.filter(is_active=True).values_list(
        "name", "paused_until", "consecutive_failures"
    ):
        paused.add_metric([name], 1 if paused_until is not None else 0)
        failures.add_metric([name], failed)
    yield paused
    yield failures


def _pool_and_processes(report: dict[str, Any]) -> Iterator[Metric]:
    checks = report["checks"]
    pool = GaugeMetricFamily(
        "arena_pool_battles", "Open battles: ready, held for voters, generating.", labels=["state"]
    )
    for state in ("ready", "held", "generating"):
        pool.add_metric([state], checks.get("pool", {}).get(state, 0))
    yield pool
    target = GaugeMetricFamily("arena_pool_target", "Ready battles the pool is kept at.")
    target.add_metric([], settings.ARENA_POOL_TARGET)
    yield target
    up = GaugeMetricFamily("arena_store_up", "1 while the store answers.", labels=["store"])
    for store in ("database", "cache", "broker"):
        up.add_metric([store], 1 if checks.get(store, {}).get("status") == "ok" else 0)
    yield up
    silent = settings.ARENA_ALERT_WORKER_SILENT_SECONDS
    workers = GaugeMetricFamily(
        "arena_workers_alive", "Workers heard from within ARENA_ALERT_WORKER_SILENT_SECONDS."
    )
    heard = checks.get("workers", {}).get("workers", [])
    workers.add_metric([], workers_heard_from(heard, within_seconds=silent))
    yield workers
    runs = GaugeMetricFamily(
        "arena_periodic_task_seconds_since_run", "Seconds since each periodic task last ran.", labels=["task"]
    )
    for task, run in checks.get("beat", {}).get("tasks", {}).items():
        if run.get("seconds_since_run") is not None:
            runs.add_metric([task], run["seconds_since_run"])
    yield runs


def _boards(now: Any) -> Iterator[Metric]:
    age = GaugeMetricFamily(
        "arena_snapshot_age_seconds", "Age of each board's newest snapshot.", labels=["board"]
    )
    lag = GaugeMetricFamily(
        "arena_snapshot_vote_lag_seconds", "From a vote to the snapshot that counted it.", labels=["board"]
    )
    for snapshot in boards_newest():
        board = snapshot.category.code if snapshot.category else "all"
        age.add_metric([board], (now - snapshot.created_at).total_seconds())
        if snapshot.vote_lag_ms is not None:
            lag.add_metric([board], snapshot.vote_lag_ms / 1000)
    yield age
    yield lag


def _allowed(request: HttpRequest) -> bool:
    """Staff logged in, a staff member's API token, or the configured scrape token."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if not credential:
        return False
    if scheme.lower() == "bearer" and settings.ARENA_METRICS_TOKEN:
        return hmac.compare_digest(credential.encode(), settings.ARENA_METRICS_TOKEN.encode())
    if scheme.lower() == "token":
        return Token.objects.filter(key=credential, user__is_staff=True, user__is_active=True).exists()
    return False


def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        response = HttpResponse(
            "a staff token or the metrics token is needed\n", status=401, content_type=CONTENT_TYPE
        )
        response["WWW-Authenticate"] = 'Bearer realm="arena metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ArenaCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE)


def _coverage() -> Iterator[Metric]:
    unbattled = selectors.unbattled(limit=0)
    questions = GaugeMetricFamily("arena_questions_never_battled", "Active questions in no battle yet.")
    questions.add_metric([], unbattled["question_count"])
    yield questions
    contenders = GaugeMetricFamily("arena_contenders_never_battled", "Active contenders in no battle yet.")
    contenders.add_metric([], len(unbattled["contenders"]))
    yield contenders


def _integrity(now: Any) -> Iterator[Metric]:
    share = excluded_share_last_hour(now=now)
    excluded = GaugeMetricFamily(
        "arena_votes_excluded_share_last_hour", "Share of the last hour's votes left out of the boards."
    )
    excluded.add_metric([], share.share)
    yield excluded
    left_out = GaugeMetricFamily(
        "arena_votes_left_out", "Votes left out of the boards, by reason.", labels=["reason"]
    )
    for reason, count in sorted(votes_left_out_by_reason().items()):
        left_out.add_metric([reason], count)
    yield left_out
    sweep = IntegritySweep.objects.filter(pk=1).first()
    failures = CounterMetricFamily(
        "arena_integrity_signal_failures", "Integrity sweeps in which a signal failed.", labels=["signal"]
    )
    for code in SIGNALS:
        failures.add_metric([code], (sweep.failures_total if sweep else {}).get(code, 0))
    yield failures
    if sweep is not None and sweep.swept_at is not None:
        age = GaugeMetricFamily(
            "arena_integrity_sweep_age_seconds", "Seconds since the votes were last scored."
        )
        age.add_metric([], (now - sweep.swept_at).total_seconds())
        yield age
        duration = GaugeMetricFamily(
            "arena_integrity_sweep_seconds", "How long the last integrity sweep took."
        )
        duration.add_metric([], sweep.duration_ms / 1000)
        yield duration
