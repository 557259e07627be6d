"""A contender's outages through real workers: paused when its endpoint fails, probed with its real
request at short, growing waits, back as soon as the endpoint is; kept paused while it cannot answer
real requests; and a worker that stops hands its calls back at once (real worker processes, the
Redis broker, PostgreSQL, the local fault server). No test here times anything: each waits for what
must happen, with room to spare."""

import pytest

from battles.models import Answer, AnswerAttempt, Contender
from battles.services.health import contender_probe
from battles.tasks import answer_generate_task
from tests.factories import AnswerFactory, ContenderFactory, QuestionFactory
from tests.fault_server import fault_server
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST_RETRIES = {
    "ARENA_POOL_TARGET": "0",
    "ARENA_GENERATION_RETRY_BASE_SECONDS": "0.2",
    "ARENA_GENERATION_RETRY_MAX_SECONDS": "1",
}


def pending_answers(contender: Contender, count: int) -> list[Answer]:
    return [
        AnswerFactory(
            contender=contender, question=QuestionFactory(), status=Answer.Status.PENDING, text="", html=""
        )
        for _ in range(count)
    ]


def state(contender: Contender) -> Contender:
    return Contender.objects.get(pk=contender.pk)


def test_a_paused_contender_is_probed_with_its_real_request_and_returns_when_its_endpoint_does():
    with fault_server() as server:
        server.behaviour = "status_503"  # down
        contender = ContenderFactory(
            base_url=server.base_url, model_id="ok_stream", stream=True, max_tokens=300, temperature=0.3
        )
        answers = pending_answers(contender, 6)
        settings = {
            **FAST_RETRIES,
            "ARENA_CONTENDER_PROBE_FIRST_SECONDS": "0.5",
            "ARENA_CONTENDER_PROBE_MAX_SECONDS": "1",
            # Fast retries would spend an answer's attempts before the pause: each must come back.
            "ARENA_GENERATION_MAX_ATTEMPTS": "50",
        }
        with worker_process(**settings):
            for answer in answers:
                answer_generate_task.delay(answer.pk)
            wait_until(lambda: state(contender).paused_until, timeout_seconds=60, message="never paused")
            wait_until(lambda: state(contender).probes_failed >= 2, timeout_seconds=60, message="no probes")
            paused = state(contender)
            assert paused.consecutive_failures == 5  # the streak stops at the pause
            assert paused.paused_reason.startswith("5 failures in a row; the last: HTTP 503 from ")
            probes_sent = server.request_count()

            server.behaviour = None  # back: every request gets the model id's behaviour, ok_stream
            wait_until(
                lambda: state(contender).paused_until is None, timeout_seconds=60, message="never restored"
            )
            wait_until(
                lambda: (
                    not Answer.objects.filter(contender=contender).exclude(status=Answer.Status.DONE).exists()
                ),
                timeout_seconds=60,
                message="the answers put off during the pause were not generated",
            )

    restored = state(contender)
    assert (restored.consecutive_failures, restored.probes_failed, restored.paused_reason) == (0, 0, "")
    assert restored.restored_at is not None and restored.flaps == 0
    # Probes were the contender's real request: streamed, with its own parameters and a bank question.
    probes = [r.body for r in server.requests[:probes_sent] if r.body.get("max_tokens") == 300]
    assert probes and all(body["stream"] is True and body["temperature"] == 0.3 for body in probes)
    assert all(body["messages"][-1]["content"].startswith("Question number") for body in probes)


def test_a_contender_that_cannot_answer_real_requests_stays_paused_without_flapping():
    with fault_server() as server:
        # Short requests are answered at once; real ones (300 tokens) take longer than the timeout.
        contender = ContenderFactory(
            base_url=server.base_url,
            model_id="slow_long:5",
            stream=False,
            max_tokens=300,
            request_timeout_seconds=1.5,
        )
        answers = pending_answers(contender, 6)
        settings = {
            **FAST_RETRIES,
            "ARENA_CONTENDER_PROBE_FIRST_SECONDS": "0.3",
            "ARENA_CONTENDER_PROBE_MAX_SECONDS": "0.6",
            "ARENA_GENERATION_LEASE_MARGIN_SECONDS": "2",
        }
        with worker_process(**settings):
            for answer in answers:
                answer_generate_task.delay(answer.pk)
            wait_until(lambda: state(contender).paused_until, timeout_seconds=60, message="never paused")
            # A short check passes, so a short probe would restore it (and real answers would time out
            # again): the probe must be the real request.
            assert contender_probe(contender=state(contender)).is_ok
            wait_until(
                lambda: state(contender).probes_failed >= 6 or state(contender).paused_until is None,
                timeout_seconds=90,
                interval_seconds=0.02,
                message="the probes stopped",
            )
            observed = state(contender)

    assert observed.paused_until is not None and observed.restored_at is None, "restored: it flaps"
    assert "timed out" in observed.last_error
    assert AnswerAttempt.objects.filter(answer__contender=contender, outcome="succeeded").count() == 0


def test_a_worker_asked_to_stop_hands_back_its_calls_at_once_and_the_server_sees_them_end():
    with fault_server() as server:
        contender = ContenderFactory(
            base_url=server.base_url, model_id="drip", stream=False, request_timeout_seconds=300
        )
        [answer] = pending_answers(contender, 1)
        with worker_process(**FAST_RETRIES) as worker:
            answer_generate_task.delay(answer.pk)
            wait_until(lambda: server.in_flight == 1, timeout_seconds=30, message="the call never started")
            worker.stop()  # SIGTERM: a warm shutdown, which would wait out a 300 s call
            assert worker.process.returncode is not None
            wait_until(
                lambda: server.client_gone_count("drip") == 1,
                timeout_seconds=10,
                message="the server never saw the call end",
            )
            stopped_log = "".join(worker.lines)

    handed_back = Answer.objects.get(pk=answer.pk)
    assert (handed_back.status, handed_back.attempts) == (Answer.Status.PENDING, 0), stopped_log[-3000:]
    assert handed_back.error.endswith("was cancelled: the worker is shutting down")
    assert not AnswerAttempt.objects.filter(answer=answer).exists()  # no attempt spent
    assert state(contender).consecutive_failures == 0  # not the endpoint's fault
    assert server.request_count("drip") == 1  # one call, not retried by the stopping worker
