"""LLM judges at scale: verdicts per second from ONE worker process against a judge endpoint that
takes 1 s per verdict (as generation_answers_per_second), and a judge board refresh at 200,000
verdicts over 130 contenders."""

import os
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client

from battles.management.seeding import arena_seed
from battles.models import Answer, Battle
from judges.models import Judge, Verdict
from judges.services.board import judge_board_refresh, judge_boards_refresh
from judges.services.judges import judge_save
from judges.tasks import verdict_judge_task
from judges.verdict_table import verdicts_judged
from ratings.services import ratings_rebuild
from tests.benchmarks.conftest import report
from tests.factories import ContenderFactory, QuestionFactory
from tests.fault_server import completion_body, json_reply
from tests.workers import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)
# The board's benchmark runs first: seeding (battles.management.seeding) expects a database whose ids
# start from the beginning.

VERDICTS = 1500
ENDPOINT_SECONDS = 1.0
BOARD_VERDICTS = 200_000
CONTENDERS = 130
RUNS = 5


class _OneSecondJudge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(ENDPOINT_SECONDS)
        json_reply(self, completion_body("The first answer is more complete.\n\n[[A>B]]"))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_judge() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneSecondJudge)
    server.daemon_threads = True
    server.request_queue_size = 1024
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _verdicts_seed(judge: Judge) -> None:
    """Two verdicts (both orders) on each seeded voted battle: the stronger contender (a lower seeded
    id) tends to win, by more the further apart they are, with noise; the swapped order somewhat less
    consistent, like a judge with a position bias."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO judges_verdict (judge_id, battle_id, "order", contender_a_id, contender_b_id,
                answer_a_id, answer_b_id, category_id, status, score, label, reply, attempts,
                unparseable_replies, error, created_at, finished_at)
            SELECT %s, b.id, o.side, b.contender_a_id, b.contender_b_id, b.answer_a_id, b.answer_b_id,
                q.category_id, 'done',
                greatest(-2, least(2, round((b.contender_b_id - b.contender_a_id) / 60.0
                    + (random() - 0.5) * o.noise)))::int,
                '', '', 1, 0, '', now(), now()
            FROM battles_battle b JOIN battles_question q ON q.id = b.question_id
            CROSS JOIN (VALUES ('shown', 3.0), ('swapped', 3.5)) AS o(side, noise)
            WHERE b.status = 'voted'
            ORDER BY b.id
            LIMIT %s
            """,
            [judge.pk, BOARD_VERDICTS],
        )
        cursor.execute(
            "UPDATE judges_verdict SET label = CASE score WHEN 2 THEN 'A>>B' WHEN 1 THEN 'A>B' "
            "WHEN 0 THEN 'A=B' WHEN -1 THEN 'B>A' ELSE 'B>>A' END"
        )
        cursor.execute("ANALYZE judges_verdict")


def test_bench_judge_board_refresh():
    started = time.monotonic()
    arena_seed(contenders=CONTENDERS, questions=400, voters=10_000, voted_battles=BOARD_VERDICTS // 2)
    judge_contender = ContenderFactory(name="bench-judge", sampling_weight=0)
    judge, _ = judge_save(contender=judge_contender)
    _verdicts_seed(judge)
    ratings_rebuild(categories=True)
    print(f"\nseeded {BOARD_VERDICTS} verdicts in {time.monotonic() - started:.0f} s", flush=True)
    assert Verdict.objects.count() == BOARD_VERDICTS

    def one_board() -> None:
        columns = verdicts_judged()
        judge_board_refresh(columns, category=None, force=True)

    reads, boards, everything = [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        verdicts_judged()
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        one_board()
        boards.append(time.perf_counter() - started)
        started = time.perf_counter()
        judge_boards_refresh(force=True)
        everything.append(time.perf_counter() - started)
    print("read s:", [round(seconds, 3) for seconds in reads])
    print("board s:", [round(seconds, 3) for seconds in boards])
    print("all boards s:", [round(seconds, 3) for seconds in everything])
    snapshot = judge_board_refresh(verdicts_judged(), category=None, force=True)
    assert snapshot is not None and snapshot.verdict_count == BOARD_VERDICTS
    assert snapshot.ratings.count() == CONTENDERS
    (agreement,) = snapshot.agreement
    print("agreement:", {key: value for key, value in agreement.items() if key != "confusion"})
    assert agreement["battles"] == BOARD_VERDICTS // 2
    report("judge_verdicts_read_seconds", statistics.median(reads), "s")
    report("judge_board_refresh_seconds", statistics.median(boards), "s")
    report("judge_boards_refresh_all_categories_seconds", statistics.median(everything), "s")

    # The verdict export, with the vote export of the same arena (100,000 votes) as its peer.
    client = Client()
    rates: dict[str, list[float]] = {}
    for name, url, rows in (
        ("verdicts", "/api/v1/verdicts/export/?format=jsonl", BOARD_VERDICTS),
        ("verdicts_csv", "/api/v1/verdicts/export/?format=csv", BOARD_VERDICTS),
        ("votes", "/api/v1/votes/export/?format=jsonl", BOARD_VERDICTS // 2),
    ):
        for _ in range(3):
            started = time.perf_counter()
            response = client.get(url)
            lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
            rates.setdefault(name, []).append(rows / (time.perf_counter() - started))
            assert response.status_code == 200 and lines == rows + (name == "verdicts_csv")
    print("export rows/s:", {name: [round(rate) for rate in values] for name, values in rates.items()})
    report("verdicts_export_rows_per_second", statistics.median(rates["verdicts"]), "rows/s")
    report("verdicts_export_csv_rows_per_second", statistics.median(rates["verdicts_csv"]), "rows/s")
    report("votes_export_rows_per_second_same_run", statistics.median(rates["votes"]), "rows/s")


def test_bench_judge_verdicts_per_second(slow_judge):
    contenders = [ContenderFactory() for _ in range(2)]
    judge_contender = ContenderFactory(base_url=slow_judge, stream=False, max_concurrent_requests=1000)
    judge, _ = judge_save(contender=judge_contender, daily_call_budget=100_000)
    questions = QuestionFactory.create_batch(VERDICTS // 2)
    with transaction.atomic():
        answers = Answer.objects.bulk_create(
            Answer(question=question, contender=contender, status=Answer.Status.DONE, text=f"Answer {n}")
            for n, question in enumerate(questions)
            for contender in contenders
        )
        battles = Battle.objects.bulk_create(
            Battle(
                question=question,
                contender_a=contenders[0],
                contender_b=contenders[1],
                answer_a=answers[2 * n],
                answer_b=answers[2 * n + 1],
                status=Battle.Status.READY,
            )
            for n, question in enumerate(questions)
        )
        verdicts = Verdict.objects.bulk_create(
            Verdict(
                judge=judge,
                battle=battle,
                order=order,
                contender_a=contenders[0],
                contender_b=contenders[1],
                answer_a_id=battle.answer_a_id,
                answer_b_id=battle.answer_b_id,
            )
            for battle in battles
            for order in (Verdict.Order.AS_SHOWN, Verdict.Order.SWAPPED)
        )
    with worker_process(queues="generation", concurrency=128) as worker:
        cpu_before = _cpu_seconds(worker.process.pid)
        started = time.monotonic()
        for verdict in verdicts:
            verdict_judge_task.delay(verdict.pk)
        wait_until(
            lambda: Verdict.objects.filter(status=Verdict.Status.DONE).count() == VERDICTS,
            timeout_seconds=300,
            interval_seconds=0.2,
        )
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(worker.process.pid) - cpu_before
    assert not Verdict.objects.exclude(status=Verdict.Status.DONE).exists()
    assert set(Verdict.objects.values_list("score", flat=True)) == {1, -1}  # A>B, negated when swapped
    report("judge_verdicts_per_second", VERDICTS / elapsed, "verdicts/s")
    report("judge_worker_cpu_ms_per_verdict", cpu / VERDICTS * 1000, "ms")
