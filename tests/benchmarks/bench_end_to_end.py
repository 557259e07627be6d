"""Figures for the first end-to-end version: importing the seed bank, and a full ratings refresh."""

import datetime as dt
import os
import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from battles.models import Answer, Contender, Question, Vote
from ratings.models import RatingSnapshot
from ratings.services import ratings_refresh
from ratings.services.counters import pair_counts_add
from tests.benchmarks.conftest import median_seconds, report
from tests.factories import ContenderFactory

pytestmark = pytest.mark.django_db(transaction=True)

SEED_EXAMPLES = Path(os.environ.get("ARENA_SEED_EXAMPLES", "/work/shared/data/ymcui-examples"))


def _empty_bank() -> None:
    with connection.cursor() as cursor:
        tables = "battles_answer, battles_question, battles_category, battles_contender"
        cursor.execute(f"TRUNCATE {tables} CASCADE")


def test_bench_import_seed_bank():
    paths = [
        str(SEED_EXAMPLES / "original"),
        str(SEED_EXAMPLES / "questions.jsonl"),
        str(SEED_EXAMPLES / "answers.jsonl"),
    ]

    def import_fresh() -> None:
        _empty_bank()
        call_command("import_bank", *paths, stdout=StringIO())

    seconds = median_seconds(import_fresh, runs=5)
    assert Question.objects.count() == 251 and Answer.objects.count() == 1562
    report("import_seed_bank_seconds", seconds, "s")


def test_bench_full_ratings_refresh_100k_votes():
    contenders = ContenderFactory.create_batch(20)
    rng = random.Random(0)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    votes = []
    for number in range(100_000):
        first, second = rng.sample(contenders, 2)
        outcome = rng.choice(["a", "b", "tie", "both_bad"])
        votes.append(
            Vote(
                contender_a=first,
                contender_b=second,
                outcome=outcome,
                created_at=start + dt.timedelta(seconds=number),
            )
        )
    with transaction.atomic():
        Vote.objects.bulk_create(votes, batch_size=5000)
        pair_counts_add(votes=votes)
    seconds = median_seconds(lambda: ratings_refresh(force=True), runs=5)
    snapshot = RatingSnapshot.objects.filter(category=None).latest()
    assert snapshot.vote_count == 100_000 and snapshot.ratings.count() == Contender.objects.count() == 20
    report("ratings_full_refresh_100k_votes_seconds", seconds, "s")
