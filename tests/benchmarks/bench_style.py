"""Style control at Chatbot Arena's scale: 1.7 million voted battles (each vote with its two answers)
over 130 contenders in PostgreSQL; a refresh with style control beside one without, in the same run."""

import statistics
import time

import pytest

from battles.management.seeding import arena_seed
from ratings.services import ratings_rebuild, ratings_refresh
from ratings.services.answered_votes import answered_votes_forget
from tests.benchmarks.conftest import report

pytestmark = pytest.mark.django_db(transaction=True)

VOTES = 1_700_000
CONTENDERS = 130
RUNS = 5


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def test_bench_style_refresh(settings):
    started = time.monotonic()
    arena_seed(contenders=CONTENDERS, questions=400, voters=10_000, voted_battles=VOTES)
    print(f"\nseeded {VOTES} voted battles in {time.monotonic() - started:.0f} s", flush=True)
    settings.ARENA_DECODING_ROUNDS = 0  # one sample per question here: nothing to resample
    settings.ARENA_STYLE_CONTROL = False
    ratings_rebuild()

    # The first refresh with style control in a process reads every vote with its answers.
    settings.ARENA_STYLE_CONTROL = True
    answered_votes_forget()
    first = timed(lambda: ratings_refresh(force=True))
    report("style_first_refresh_seconds", first, "s")

    plain: list[float] = []
    styled: list[float] = []
    snapshots = []
    for _ in range(RUNS):  # alternating, so both meet the same machine
        settings.ARENA_STYLE_CONTROL = False
        plain.append(timed(lambda: ratings_refresh(force=True)))
        settings.ARENA_STYLE_CONTROL = True
        styled.append(timed(lambda: snapshots.append(ratings_refresh(force=True))))
    print("plain s:", [round(seconds, 3) for seconds in plain])
    print("style s:", [round(seconds, 3) for seconds in styled])
    snapshot = snapshots[-1]
    style = snapshot.parameters["style"]
    assert snapshot.vote_count == VOTES and style["votes"] == VOTES
    assert snapshot.ratings.filter(style_rating__isnull=False).count() == CONTENDERS
    print("style coefficients:", style["coefficients"])
    report("plain_refresh_seconds", statistics.median(plain), "s")
    report("style_refresh_seconds", statistics.median(styled), "s")
    report("style_refresh_over_plain", statistics.median(styled) / statistics.median(plain), "x")
