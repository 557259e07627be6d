"""A worker killed with SIGKILL in the middle of a generation: after a new worker starts, the answer
is completed exactly once (real worker processes, the Redis broker, PostgreSQL, a real HTTP endpoint)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from battles.models import Answer, AnswerAttempt, Battle
from battles.tasks import answer_generate_task
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory
from tests.fault_server import completion_body, json_reply
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class _HangingModel(BaseHTTPRequestHandler):
    """The first `hanging` calls never get an answer in time; every later one is answered at once."""

    calls: list[float] = []
    hanging = 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append(time.monotonic())
        if len(type(self).calls) <= type(self).hanging:
            time.sleep(60)
            return
        json_reply(self, completion_body("the second try"))

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def model_server(*, hanging: int) -> Iterator[str]:
    _HangingModel.calls, _HangingModel.hanging = [], hanging
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HangingModel)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint() -> Iterator[str]:
    with model_server(hanging=1) as url:
        yield url


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    with model_server(hanging=1_000_000) as url:  # every call outlives the lease
        yield url


def test_answer_survives_a_killed_worker_and_completes_exactly_once(endpoint, tmp_path):
    contender = ContenderFactory(base_url=endpoint, request_timeout_seconds=3, stream=False)
    answer = AnswerFactory(contender=contender, status=Answer.Status.PENDING, text="", html="")
    settings = {
        "ARENA_GENERATION_LEASE_MARGIN_SECONDS": "1",  # the lease runs out 4 s after the claim
        "ARENA_SWEEP_INTERVAL_SECONDS": "1",
        "ARENA_POOL_TARGET": "0",
    }
    with worker_process(**settings) as first_worker:
        answer_generate_task.delay(answer.pk)
        wait_until(
            lambda: len(_HangingModel.calls) == 1, timeout_seconds=20, message="the call never started"
        )
        running = Answer.objects.get(pk=answer.pk)
        assert running.status == Answer.Status.RUNNING and running.attempts == 1
        first_worker.kill()

    assert Answer.objects.get(pk=answer.pk).status == Answer.Status.RUNNING  # nobody is left to finish it
    with worker_process(beat_schedule=tmp_path / "beat-schedule", **settings):
        done = wait_until(
            lambda: Answer.objects.filter(pk=answer.pk, status=Answer.Status.DONE).first(),
            timeout_seconds=30,
            message="the answer was never completed after the crash",
        )
        time.sleep(2)  # any duplicate delivery would have run by now

    assert done.text == "the second try"
    assert Answer.objects.filter(question=answer.question, contender=contender).count() == 1
    attempts = list(AnswerAttempt.objects.filter(answer=answer).values_list("number", "outcome"))
    assert attempts == [(1, AnswerAttempt.Outcome.LOST), (2, AnswerAttempt.Outcome.SUCCEEDED)]
    assert len(_HangingModel.calls) == 2
    final = Answer.objects.get(pk=answer.pk)
    assert (final.attempts, final.claim_token, final.lease_expires_at) == (2, None, None)


def test_an_answer_that_crashes_every_worker_fails_at_the_attempt_limit_and_its_battle_is_retired(
    hanging_endpoint, tmp_path
):
    contender = ContenderFactory(base_url=hanging_endpoint, request_timeout_seconds=30, stream=False)
    battle = BattleFactory(contender_b=contender, status=Battle.Status.GENERATING, ready_at=None)
    Answer.objects.filter(pk=battle.answer_b_id).update(status=Answer.Status.PENDING, text="", html="")
    settings = {
        "ARENA_GENERATION_MAX_ATTEMPTS": "2",
        "ARENA_GENERATION_LEASE_MARGIN_SECONDS": "0",
        "ARENA_SWEEP_INTERVAL_SECONDS": "1",
        "ARENA_POOL_TARGET": "0",
    }
    answer_id = battle.answer_b_id

    def lease_runs_out() -> None:
        # The lease (the 30 s request timeout) runs out at once in the database's eyes.
        Answer.objects.filter(pk=answer_id).update(lease_expires_at=timezone.now())

    # Each attempt's worker is killed mid-call, as an out-of-memory killer would; the sweeper of the
    # next worker counts the lost attempt and puts the answer back, until the limit.
    answer_generate_task.delay(answer_id)
    with worker_process(**settings) as worker:
        wait_until(lambda: len(_HangingModel.calls) == 1, timeout_seconds=60, message="no first call")
        worker.kill()
    lease_runs_out()
    with worker_process(beat_schedule=tmp_path / "beat-1", **settings) as worker:
        wait_until(lambda: len(_HangingModel.calls) == 2, timeout_seconds=60, message="no second call")
        worker.kill()
    lease_runs_out()
    with worker_process(beat_schedule=tmp_path / "beat-2", **settings):
        failed = wait_until(
            lambda: Answer.objects.filter(pk=answer_id, status=Answer.Status.FAILED).first(),
            timeout_seconds=30,
            message="the answer was not failed at the attempt limit",
        )
    assert failed.attempts == 2 and "2 attempts, the limit" in failed.error
    assert list(AnswerAttempt.objects.filter(answer_id=failed.pk).values_list("outcome", flat=True)) == [
        AnswerAttempt.Outcome.LOST,
        AnswerAttempt.Outcome.LOST,
    ]
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.RETIRED
    assert len(_HangingModel.calls) == 2  # never a third call
