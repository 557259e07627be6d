"""Answers per second from ONE worker process against an endpoint that takes 1 s per answer, and how
long a ratings refresh waits behind a backlog of such answers."""

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import transaction

from battles.models import Answer
from battles.tasks import answer_generate_task
from ratings.models import RatingSnapshot
from ratings.tasks import ratings_refresh_task
from tests.benchmarks.conftest import report
from tests.factories import ContenderFactory, QuestionFactory, VoteFactory
from tests.fault_server import completion_body, json_reply
from tests.workers import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER_COUNT = 1500
ENDPOINT_SECONDS = 1.0


class _OneSecondModel(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(ENDPOINT_SECONDS)
        json_reply(self, completion_body("An answer, **in markdown**."))

    def log_message(self, *args: object) -> None:
        pass


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def slow_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneSecondModel)
    server.daemon_threads = True
    server.request_queue_size = 1024
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("concurrency", [128])
def test_bench_generation_answers_per_second(slow_endpoint, concurrency):
    contender = ContenderFactory(base_url=slow_endpoint, max_concurrent_requests=1000)
    questions = QuestionFactory.create_batch(ANSWER_COUNT)
    with transaction.atomic():
        answers = Answer.objects.bulk_create(Answer(question=q, contender=contender) for q in questions)
    with worker_process(queues="generation", concurrency=concurrency) as worker:
        cpu_before = _cpu_seconds(worker.process.pid)
        started = time.monotonic()
        for answer in answers:
            answer_generate_task.delay(answer.pk)
        wait_until(
            lambda: Answer.objects.filter(status=Answer.Status.DONE).count() == ANSWER_COUNT,
            timeout_seconds=300,
            interval_seconds=0.2,
        )
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(worker.process.pid) - cpu_before
    assert not Answer.objects.exclude(status=Answer.Status.DONE).exists()
    report("generation_answers_per_second", ANSWER_COUNT / elapsed, "answers/s")
    report("generation_worker_cpu_ms_per_answer", cpu / ANSWER_COUNT * 1000, "ms")


BACKLOG = 240
BACKLOG_CONCURRENCY = 8


@pytest.mark.parametrize("prefetch", [4, 1])
def test_bench_refresh_wait_behind_an_answer_backlog(slow_endpoint, prefetch):
    """How long a ratings refresh waits behind a backlog of answers in a worker that serves both
    queues (as `make run`'s does): a worker takes prefetch × concurrency tasks at a time, and the
    answers it holds beyond those it runs come before a refresh queued after them."""
    contender = ContenderFactory(base_url=slow_endpoint, max_concurrent_requests=1000)
    questions = QuestionFactory.create_batch(BACKLOG)
    with transaction.atomic():
        answers = Answer.objects.bulk_create(Answer(question=q, contender=contender) for q in questions)
    environment = {"CELERY_WORKER_PREFETCH_MULTIPLIER": str(prefetch), "ARENA_POOL_TARGET": "0"}
    with worker_process(concurrency=BACKLOG_CONCURRENCY, **environment):
        for answer in answers:
            answer_generate_task.delay(answer.pk)
        wait_until(
            lambda: Answer.objects.filter(status=Answer.Status.RUNNING).count() >= BACKLOG_CONCURRENCY,
            timeout_seconds=60,
            interval_seconds=0.05,
        )
        vote = VoteFactory()  # on no board yet (the worker refreshed the board when it connected)
        started = time.monotonic()
        ratings_refresh_task.delay()
        wait_until(
            lambda: RatingSnapshot.objects.filter(category=None, last_vote_id__gte=vote.pk).exists(),
            timeout_seconds=120,
            interval_seconds=0.05,
        )
        waited = time.monotonic() - started
    report(f"refresh_wait_behind_answers_prefetch_{prefetch}_seconds", waited, "s")
