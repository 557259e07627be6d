"""The ratings engine at Chatbot Arena's scale: 1.7 million votes over 130 contenders in PostgreSQL, and
how a refresh grows with the contenders (130 and 260 over the same 1.7 million votes)."""

import statistics
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.core.management import call_command
from django.db.models import Max
from django.test import Client
from django.utils import timezone

from battles.management.seeding import arena_seed
from battles.models import Answer, Battle, Category, Question, Vote, Voter
from ratings.models import RatingSnapshot
from ratings.services import ratings_rebuild, ratings_refresh
from tests.benchmarks.conftest import report
from tests.workers import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)

VOTES = 1_700_000
CONTENDERS = 130


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def peak_memory_mb(action) -> float:
    """The peak of memory allocated while the action runs (tracemalloc, which also sees numpy's
    arrays; it slows Python down, so it runs apart from the timings)."""
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return peak


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_bench_ratings_at_chatbot_arena_scale(settings, tmp_path):
    started = time.monotonic()
    arena_seed(contenders=CONTENDERS, questions=400, voters=10_000, votes_without_battle=VOTES)
    print(f"\nseeded {VOTES} votes in {time.monotonic() - started:.0f} s", flush=True)

    rebuilds = [timed(ratings_rebuild) for _ in range(3)]
    snapshot = rebuilds[-1][0]
    assert snapshot.vote_count == VOTES and snapshot.ratings.count() == CONTENDERS
    print("rebuild s:", [round(seconds, 2) for _, seconds in rebuilds])
    report("ratings_rebuild_seconds", statistics.median(seconds for _, seconds in rebuilds), "s")
    report("ratings_rebuild_peak_memory_mb", peak_memory_mb(ratings_rebuild), "MB")

    refreshes = [timed(lambda: ratings_refresh(force=True)) for _ in range(5)]
    print("refresh s:", [round(seconds, 3) for _, seconds in refreshes])
    print("fit ms:", [result.parameters["fit_ms"] for result, _ in refreshes])
    report("ratings_refresh_seconds", statistics.median(seconds for _, seconds in refreshes), "s")
    report("ratings_refresh_peak_memory_mb", peak_memory_mb(lambda: ratings_refresh(force=True)), "MB")

    # A vote cast over HTTP until a snapshot that includes it can be read, with a real worker. The
    # first vote after the worker starts meets the worker's first refresh of the category boards (the
    # rebuild above wrote none): it is reported apart. The others are cast once those boards have
    # caught up, one second apart: a worker with nothing else to do.
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = settings.ARENA_VOTES_PER_MINUTE_PER_IP = 10**6
    question = Question.objects.order_by("id").first()
    answers = {answer.contender: answer for answer in Answer.objects.filter(question=question)[:2]}
    contenders = list(answers)
    client = Client()

    def vote_to_board(timeout_seconds: float) -> float:
        voter = Voter.objects.create()
        battle = Battle.objects.create(
            question=question,
            contender_a=contenders[0],
            contender_b=contenders[1],
            answer_a=answers[contenders[0]],
            answer_b=answers[contenders[1]],
            status=Battle.Status.SERVED,
            voter=voter,
            served_at=timezone.now() - timedelta(seconds=20),
        )
        client.cookies["arena_voter"] = signing.get_cookie_signer(salt="arena_voter" + "arena.voter").sign(
            str(voter.pk)
        )
        begun = time.perf_counter()
        assert client.post(f"/battles/{battle.pk}/vote/", {"outcome": "b"}).status_code == 303
        vote_id = Vote.objects.get(battle=battle).pk
        wait_until(
            lambda: RatingSnapshot.objects.filter(category__isnull=True, last_vote_id__gte=vote_id).exists(),
            timeout_seconds=timeout_seconds,
            interval_seconds=0.01,
        )
        return time.perf_counter() - begun

    def category_boards_caught_up() -> bool:
        for category in Category.objects.filter(pk__in=Vote.objects.values("category")):
            newest = Vote.objects.filter(category=category).aggregate(newest=Max("id"))["newest"]
            latest = RatingSnapshot.objects.filter(category=category).order_by("-created_at", "-id").first()
            if latest is None or latest.last_vote_id != newest:
                return False
        return True

    lags = []
    with worker_process(queues="celery", concurrency=2) as worker:
        first = vote_to_board(timeout_seconds=120)
        began = time.perf_counter()
        wait_until(category_boards_caught_up, timeout_seconds=300, interval_seconds=0.5)
        print(f"first vote {first:.3f} s; category boards {time.perf_counter() - began:.1f} s later")
        for _ in range(5):
            time.sleep(1)
            lags.append(vote_to_board(timeout_seconds=30))
        worker_peak = peak_rss_mb(worker.process.pid)
    print("vote to leaderboard s:", [round(lag, 3) for lag in lags])
    report("vote_to_leaderboard_first_after_start_seconds", first, "s")
    report("vote_to_leaderboard_seconds", statistics.median(lags), "s")
    report("vote_to_leaderboard_worker_peak_rss_mb", worker_peak, "MB")

    # The results API at this size: the leaderboard of 130 contenders, and the whole vote export.
    api = Client()
    assert api.get("/api/v1/leaderboard/").status_code == 200
    timings = []
    for _ in range(200):
        begun = time.perf_counter()
        response = api.get("/api/v1/leaderboard/")
        timings.append((time.perf_counter() - begun) * 1000)
        assert response.status_code == 200
    assert len(response.json()["ratings"]) == CONTENDERS
    timings.sort()
    print(f"leaderboard API ms: median {statistics.median(timings):.2f}, p95 {timings[189]:.2f}")
    report("leaderboard_api_p95_ms", timings[189], "ms")

    for export_format in ("jsonl", "csv", "clean_battle"):
        rates = []
        for _ in range(3 if export_format == "jsonl" else 1):
            begun = time.perf_counter()
            response = api.get(f"/api/v1/votes/export/?format={export_format}")
            assert response.status_code == 200
            size = sum(len(chunk) for chunk in response.streaming_content)
            rates.append(VOTES / (time.perf_counter() - begun))
        print(f"export {export_format}: {size / 1e6:.0f} MB, rows/s {[round(rate) for rate in rates]}")
        if export_format == "jsonl":
            report("votes_export_rows_per_second", statistics.median(rates), "rows/s")
        else:
            report(f"votes_export_{export_format}_rows_per_second", rates[0], "rows/s")


def refresh_timings(contenders: int, runs: int) -> tuple[list[float], list[float]]:
    """Seed 1.7 million votes over `contenders`, rebuild, then time `runs` forced refreshes: their
    seconds, and the seconds of the fit within them (Bradley-Terry, sandwich, 1,000-round bootstrap)."""
    started = time.monotonic()
    arena_seed(contenders=contenders, questions=400, voters=10_000, votes_without_battle=VOTES)
    print(f"\nseeded {VOTES} votes over {contenders} contenders in {time.monotonic() - started:.0f} s")
    snapshot = ratings_rebuild()
    assert snapshot is not None
    assert snapshot.vote_count == VOTES and snapshot.ratings.count() == contenders
    seconds, fits, others = [], [], []
    for _ in range(runs):
        refreshed, elapsed = timed(lambda: ratings_refresh(force=True))
        assert refreshed is not None
        snapshot = refreshed
        assert snapshot.vote_count == VOTES and snapshot.ratings.count() == contenders
        assert len(snapshot.matrices.contender_ids) == contenders
        assert snapshot.parameters["bootstrap_rounds"] == 1000
        seconds.append(elapsed)
        fits.append(snapshot.parameters["fit_ms"] / 1000)
        others.append({name: value for name, value in snapshot.parameters.items() if name.endswith("_ms")})
    print(f"{contenders} contenders: refresh s {[round(value, 3) for value in seconds]}")
    print(f"{contenders} contenders: parts ms {others}")
    return seconds, fits


def test_bench_ratings_refresh_130_and_260_contenders(settings: Any) -> None:
    """The same 1.7 million votes over twice the contenders, so four times the pairs: the whole
    refresh, and the fit within it. Both sizes in one run (the machine's load changes between runs),
    the database emptied in between."""
    settings.ARENA_BOOTSTRAP_ROUNDS = 1000
    refreshes: dict[int, float] = {}
    fits: dict[int, float] = {}
    for contenders in (130, 260):
        if refreshes:
            call_command("flush", interactive=False, verbosity=0)
        seconds, fit_seconds = refresh_timings(contenders, runs=5)
        refreshes[contenders] = statistics.median(seconds)
        fits[contenders] = statistics.median(fit_seconds)
    for contenders in (130, 260):
        report(f"ratings_refresh_{contenders}_seconds", refreshes[contenders], "s")
    report("ratings_refresh_260_over_130", refreshes[260] / refreshes[130], "x")
    for contenders in (130, 260):
        report(f"ratings_refresh_{contenders}_fit_seconds", fits[contenders], "s")
    report("ratings_refresh_fit_260_over_130", fits[260] / fits[130], "x")
