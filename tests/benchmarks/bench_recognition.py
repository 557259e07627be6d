"""Recognised answers on the seed projects' bank: simulated voters vote through the whole bank and on
(past its 251 questions, where questions repeat), through the real serving and voting services. The
share of served battles that show an answer the voter had already seen revealed must be 0."""

import os
import random
import time
from pathlib import Path

import pytest

from battles.models import Battle, Question
from battles.services.bank import bank_import_paths
from battles.services.pool import battle_pool_refill
from battles.services.serving import battle_serve
from battles.services.voting import vote_cast
from tests.benchmarks.conftest import report
from tests.factories import VoterFactory

pytestmark = pytest.mark.django_db(transaction=True)

SEED_EXAMPLES = Path(os.environ.get("ARENA_SEED_EXAMPLES", "/work/shared/data/ymcui-examples"))
VOTERS = 8
VOTES_EACH = 400


def test_bench_recognised_answers_on_the_seed_bank(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 0
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 1_000_000
    settings.ARENA_VOTES_PER_DAY_PER_VOTER = 1_000_000
    settings.ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = 1_000_000
    settings.ARENA_POOL_TARGET = 20
    bank_import_paths(paths=[SEED_EXAMPLES / "questions.jsonl", SEED_EXAMPLES / "answers.jsonl"])
    rng = random.Random(2026)
    served = recognised = repeats = 0
    started = time.monotonic()
    for _ in range(VOTERS):
        voter = VoterFactory()
        questions_seen: set[int] = set()
        for _ in range(VOTES_EACH):
            battle_pool_refill(rng=rng)
            # What the voter saw revealed: the answers of the battles they voted on.
            voted = Battle.objects.filter(voter=voter, status=Battle.Status.VOTED)
            seen = {answer for pair in voted.values_list("answer_a_id", "answer_b_id") for answer in pair}
            battle = battle_serve(voter=voter, rng=rng, ip_hash="")
            if battle is None:
                break
            served += 1
            recognised += bool({battle.answer_a_id, battle.answer_b_id} & seen)
            repeats += battle.question_id in questions_seen
            questions_seen.add(battle.question_id)
            vote_cast(battle_id=battle.pk, voter=voter, outcome=rng.choice(["a", "b", "tie", "both_bad"]))
    print(
        f"{VOTERS} voters, {served} battles served ({repeats} on a question the voter had seen), "
        f"{Question.objects.count()} questions, {Battle.objects.count()} battles, "
        f"{time.monotonic() - started:.0f} s"
    )
    report("recognised_answer_battles_percent", 100 * recognised / max(served, 1), "%")
    report("recognition_served_battles", served, "battles")
    assert recognised == 0
