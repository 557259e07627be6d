"""The whole arena on the real stack: a real Celery worker on the Redis broker, PostgreSQL, and a model
endpoint answering over real HTTP."""

import json
import re
import time
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.test import Client

from arena.celery import app
from battles.models import Answer, Battle, Contender, Vote
from battles.tasks import battle_pool_refill_task
from ratings.models import RatingSnapshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(condition: Callable[[], Any], *, timeout_seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_seconds} s waiting for {condition}")


@pytest.fixture
def worker() -> Iterator[None]:
    queues = ["celery", "generation"]
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", queues=queues
    ):
        yield


def test_import_generate_battle_vote_rate_and_show(tmp_path: Path, demo_endpoint_url: str, settings, worker):
    settings.ARENA_POOL_TARGET = 3
    bank = tmp_path / "bank.jsonl"
    bank.write_text(
        "\n".join(
            json.dumps({"id": f"flow-{n}", "text": text, "category": "QA", "language": "en"})
            for n, text in enumerate(["What is rain?", "Why is snow white?", "Name a prime number."])
        ),
        encoding="utf-8",
    )
    call_command("import_bank", str(bank), stdout=StringIO())
    for model_id, name in [("sage", "Sage"), ("parrot", "Parrot")]:
        Contender.objects.create(name=name, base_url=demo_endpoint_url, model_id=model_id)

    battle_pool_refill_task.delay()
    wait_for(lambda: Battle.objects.filter(status=Battle.Status.READY).count() == 3)
    assert Answer.objects.filter(status=Answer.Status.DONE).count() >= 2
    assert not Answer.objects.filter(status=Answer.Status.FAILED).exists()

    voter = Client(enforce_csrf_checks=True)
    page = voter.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sage" not in html and "Parrot" not in html  # names stay hidden until the vote
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    action = re.search(r'<form class="verdicts" method="post" action="([^"]+)"', html).group(1)
    served = Battle.objects.get(status=Battle.Status.SERVED)
    assert action == f"/battles/{served.pk}/vote/"

    response = voter.post(action, {"outcome": "a", "csrfmiddlewaretoken": token})
    assert response.status_code == 303
    reveal = voter.get(response["Location"]).content.decode()
    assert served.contender_a.name in reveal and served.contender_b.name in reveal

    vote = Vote.objects.get()
    assert (vote.contender_a_id, vote.contender_b_id, vote.outcome) == (
        served.contender_a_id,
        served.contender_b_id,
        "a",
    )
    snapshot = wait_for(lambda: RatingSnapshot.objects.filter(vote_count=1).first(), timeout_seconds=20)
    winner, loser = served.contender_a.name, served.contender_b.name

    board = voter.get("/leaderboard/").content.decode()
    assert board.index(winner) < board.index(loser)

    out = StringIO()
    call_command("leaderboard", "--json", stdout=out)
    rows = {row["name"]: row for row in json.loads(out.getvalue())}
    assert rows[winner]["elo"] == 1002.0 and rows[loser]["elo"] == 998.0
    assert (rows[winner]["wins"], rows[winner]["losses"], rows[winner]["win_rate"]) == (1, 0, 1.0)
    assert (rows[loser]["wins"], rows[loser]["losses"], rows[loser]["win_rate"]) == (0, 1, 0.0)
    assert rows[winner]["votes"] == rows[loser]["votes"] == 1
    assert snapshot.last_vote_id == vote.pk
