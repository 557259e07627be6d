"""How a contender lives through outages with the default settings, through a real worker with beat.

- contender_return_after_endpoint_back: the endpoint is killed (connection refused) for a while and
  started again on the same port; the time from its return to the contender's restore, and to the
  first answer generated after it. Outages of several lengths: the probes' waits have grown by then.
- flapping: real answers take longer than the contender's timeout while a short request still
  passes; over BENCH_FLAP_MINUTES (15 by default) the contender must stay paused, never restored.
"""

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from django.db import transaction
from django.utils import timezone

from battles.models import Answer, Contender
from battles.services.health import contender_probe
from battles.tasks import answer_generate_task
from tests.benchmarks.conftest import report
from tests.factories import ContenderFactory, QuestionFactory
from tests.fault_server import fault_server
from tests.workers import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)

# Lengths spread over the probe cycle, so that a return lands at different points of it.
OUTAGE_SECONDS = [12, 33, 47, 71, 128]
FLAP_MINUTES = float(os.environ.get("BENCH_FLAP_MINUTES", "15"))


class Endpoint:
    """A fault server that can be killed (connections refused) and started again on the same port."""

    def __init__(self) -> None:
        self._running: ExitStack | None = None
        self.port = 0
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._running = ExitStack()
        server = self._running.enter_context(fault_server(port=self.port))
        self.port = int(server.origin.rsplit(":", 1)[1])

    def kill(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@contextmanager
def running_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    try:
        yield endpoint
    finally:
        endpoint.kill()


def queue_answers(contender: Contender, count: int) -> None:
    questions = QuestionFactory.create_batch(count)
    with transaction.atomic():
        answers = Answer.objects.bulk_create(Answer(question=q, contender=contender) for q in questions)
    for answer in answers:
        answer_generate_task.delay(answer.pk)


def one_outage(endpoint: Endpoint, outage: float) -> tuple[float, float]:
    """Kill the endpoint while answers are asked of it, start it again after `outage` seconds; the
    seconds from its return to the contender's restore, and to the first answer generated."""
    # A contender of its own per outage: a second outage soon after a restore would be a flap, whose
    # waits are longer by design (see the flapping figure below).
    contender = ContenderFactory(base_url=endpoint.base_url, model_id="ok_stream", stream=True)
    endpoint.kill()
    queue_answers(contender, 30)  # calls keep coming while it is down
    wait_until(
        lambda: Contender.objects.get(pk=contender.pk).paused_until, timeout_seconds=120, message="no pause"
    )
    time.sleep(outage)
    endpoint.start()
    back, back_at = time.monotonic(), timezone.now()
    wait_until(
        lambda: Contender.objects.get(pk=contender.pk).paused_until is None,
        timeout_seconds=600,
        interval_seconds=0.1,
        message="not restored",
    )
    restored = time.monotonic() - back
    answers = Answer.objects.filter(contender=contender)
    wait_until(
        lambda: answers.filter(finished_at__gt=back_at, status="done").exists(),
        timeout_seconds=600,
        interval_seconds=0.1,
        message="no answer after the restore",
    )
    first_answer = time.monotonic() - back
    wait_until(
        lambda: not answers.filter(status__in=["pending", "running"]).exists(),
        timeout_seconds=600,
        message="answers left",
    )
    print(
        f"outage {outage} s: restored {restored:.1f} s after the endpoint came back, "
        f"first answer {first_answer:.1f} s",
        flush=True,
    )
    return restored, first_answer


def test_bench_contender_return_after_endpoint_back(tmp_path):
    with (
        running_endpoint() as endpoint,
        worker_process(beat_schedule=tmp_path / "beat", ARENA_POOL_TARGET="0"),
    ):
        restored, first_answer = zip(
            *(one_outage(endpoint, outage) for outage in OUTAGE_SECONDS), strict=True
        )
    report("contender_return_after_endpoint_back_median", statistics.median(restored), "s")
    report("contender_return_after_endpoint_back_max", max(restored), "s")
    report("first_answer_after_endpoint_back_median", statistics.median(first_answer), "s")


def test_bench_no_flapping_when_real_requests_time_out(tmp_path):
    with fault_server() as server, worker_process(beat_schedule=tmp_path / "beat", ARENA_POOL_TARGET="0"):
        # Short requests are answered at once; real ones (the contender's 512 tokens) take 30 s, past
        # its 5 s timeout: the case where a short probe passed and the contender flapped.
        contender = ContenderFactory(
            base_url=server.base_url,
            model_id="slow_long:30",
            stream=False,
            max_tokens=512,
            request_timeout_seconds=5,
        )
        queue_answers(contender, 20)
        wait_until(
            lambda: Contender.objects.get(pk=contender.pk).paused_until,
            timeout_seconds=300,
            message="no pause",
        )
        short_check_passes = contender_probe(contender=Contender.objects.get(pk=contender.pk)).is_ok
        restores = 0
        was_paused = True
        ends = time.monotonic() + FLAP_MINUTES * 60
        while time.monotonic() < ends:
            paused = Contender.objects.get(pk=contender.pk).paused_until is not None
            restores += was_paused and not paused
            was_paused = paused
            time.sleep(0.5)
        final = Contender.objects.get(pk=contender.pk)
    print(
        f"{FLAP_MINUTES:g} min: short check passes: {short_check_passes}; "
        f"probes failed {final.probes_failed}; restores {restores}; "
        f"still paused: {final.paused_until is not None}",
        flush=True,
    )
    report("flapping_restores", restores, f"in_{FLAP_MINUTES:g}_min")
    report("flapping_probes_failed", final.probes_failed, f"in_{FLAP_MINUTES:g}_min")
