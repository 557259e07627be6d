"""GET /api/v1/verdicts/export/: every finished verdict with the battle's counted human vote, as JSON
Lines or CSV, filtered, paged by cursor, negotiated like the vote export."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from battles.models import Battle, Vote
from judges.models import Verdict
from judges.services.judges import judge_save
from judges.services.judging import current_prompt
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)
from tests.judges.helpers import verdict_make
from tests.judges.test_judging import judge_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/verdicts/export/"
FINISHED_AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _battle(a, b, number: int, category) -> Battle:  # type: ignore[no-untyped-def]
    question = QuestionFactory(text=f"Question {number}?", category=category, language="en")
    return BattleFactory(
        question=question,
        contender_a=a,
        contender_b=b,
        answer_a=AnswerFactory(question=question, contender=a, text=f"A{number}"),
        answer_b=AnswerFactory(question=question, contender=b, text=f"B{number}"),
    )


def _vote(battle: Battle, outcome: str, excluded_reasons: str = "") -> None:
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.VOTED, voter=voter, served_at=timezone.now()
    )
    VoteFactory(
        battle=battle,
        voter=voter,
        contender_a=battle.contender_a,
        contender_b=battle.contender_b,
        outcome=outcome,
        excluded_reasons=excluded_reasons,
    )


@pytest.fixture
def verdicts() -> dict:  # type: ignore[type-arg]
    """Battle 1 (QA; voted A, counted): both orders done. Battle 2 (Code; voted B, but the vote left
    out as too fast): one order unparseable. Battle 3 (QA, no vote): a pending and a failed verdict,
    which are not exported. A second judge's verdict on battle 1. Battle 4, open for voting: a done
    verdict, not exported (it would name the battle's models)."""
    qa, code = CategoryFactory(code="QA"), CategoryFactory(code="Code")
    x, y = ContenderFactory(name="Xenon"), ContenderFactory(name="=Yttrium")  # a formula in a sheet
    first = judge_of()
    other, _ = judge_save(contender=ContenderFactory(name="Second", sampling_weight=0))
    prompt = current_prompt("en")
    b1, b2, b3 = _battle(x, y, 1, qa), _battle(y, x, 2, code), _battle(x, y, 3, qa)
    _vote(b1, Vote.Outcome.A)
    _vote(b2, Vote.Outcome.B, excluded_reasons="fast")
    done = {"finished_at": FINISHED_AT, "prompt": prompt}
    made = [
        verdict_make(first, b1, "shown", status=Verdict.Status.DONE, score=2, label="A>>B", **done),
        verdict_make(first, b1, "swapped", status=Verdict.Status.DONE, score=1, label="B>A", **done),
        verdict_make(first, b2, "shown", status=Verdict.Status.UNPARSEABLE, **done),
        verdict_make(first, b3, "shown", status=Verdict.Status.PENDING),
        verdict_make(first, b3, "swapped", status=Verdict.Status.FAILED, finished_at=FINISHED_AT),
        verdict_make(other, b1, "shown", status=Verdict.Status.DONE, score=-1, label="B>A", **done),
    ]
    still_open = _battle(x, y, 4, qa)
    assert still_open.status == Battle.Status.READY
    verdict_make(first, still_open, "shown", status=Verdict.Status.DONE, score=2, label="A>>B", **done)
    return {"made": made, "b1": b1, "b2": b2, "qa": qa, "first": first, "other": other, "prompt": prompt}


def _row(verdict: Verdict, battle: Battle, **fields) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "id": verdict.pk,
        "time": "2026-12-05T12:00:00+00:00",
        "battle": battle.pk,
        "order": verdict.order,
        "question": battle.question_id,
        "prompt_version": 1,
        **fields,
    }


def test_jsonl_holds_every_finished_verdict_with_the_counted_human_vote(verdicts):
    made, b1, b2 = verdicts["made"], verdicts["b1"], verdicts["b2"]
    response = APIClient().get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="verdicts.jsonl"'
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    pair = {"contender_a": "Xenon", "contender_b": "=Yttrium", "category": "QA"}
    assert rows == [
        _row(made[0], b1, judge="Judge", **pair, status="done", label="A>>B", score=2, human_outcome="a"),
        _row(made[1], b1, judge="Judge", **pair, status="done", label="B>A", score=1, human_outcome="a"),
        _row(
            made[2],
            b2,
            judge="Judge",
            contender_a="=Yttrium",
            contender_b="Xenon",
            category="Code",
            status="unparseable",
            label="",
            score=None,
            human_outcome=None,  # its vote was left out of the boards
        ),
        _row(made[5], b1, judge="Second", **pair, status="done", label="B>A", score=-1, human_outcome="a"),
    ]
    assert list(rows[0]) == [
        "id",
        "time",
        "judge",
        "battle",
        "order",
        "question",
        "category",
        "contender_a",
        "contender_b",
        "status",
        "label",
        "score",
        "prompt_version",
        "human_outcome",
    ]


def test_csv_by_accept_header_with_names_safe_in_a_spreadsheet(verdicts):
    response = APIClient().get(URL, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:4] == ["id", "time", "judge", "battle"] and len(table) == 5
    first = verdicts["made"][0]
    assert table[1] == [
        str(first.pk),
        "2026-12-05T12:00:00+00:00",
        "Judge",
        str(verdicts["b1"].pk),
        "shown",
        str(verdicts["b1"].question_id),
        "QA",
        "Xenon",
        "'=Yttrium",
        "done",
        "A>>B",
        "2",
        "1",
        "a",
    ]
    assert table[3][11] == "" and table[3][13] == ""  # unparseable: no score; no counted vote


def test_filters_and_cursor_paging(verdicts):
    client = APIClient()
    made = verdicts["made"]

    def ids(response):  # type: ignore[no-untyped-def]
        return [json.loads(line)["id"] for line in b"".join(response.streaming_content).decode().splitlines()]

    assert ids(client.get(URL, {"judge": verdicts["other"].pk})) == [made[5].pk]
    assert ids(client.get(URL, {"category": "QA"})) == [made[0].pk, made[1].pk, made[5].pk]
    page = client.get(URL, {"limit": 2})
    assert ids(page) == [made[0].pk, made[1].pk]
    assert page["X-Next-Cursor"] == str(made[1].pk)
    assert page["Link"] == f'<http://testserver{URL}?limit=2&after={made[1].pk}>; rel="next"'
    last = client.get(URL, {"limit": 2, "after": made[1].pk})
    assert ids(last) == [made[2].pk, made[5].pk] and "Link" not in last and "X-Next-Cursor" not in last


@pytest.mark.parametrize(
    ("query", "accept", "status", "message"),
    [
        ({"format": "clean_battle"}, "", 400, "format must be one of jsonl, csv"),
        ({"judge": "0"}, "", 400, "judge must be a whole number from 1 to"),
        ({"limit": "many"}, "", 400, "limit must be a whole number from 1 to 1000000"),
        ({"judge": "999999"}, "", 404, "no judge 999999"),
        ({"category": "nope"}, "", 404, "no category 'nope'"),
        ({}, "application/json", 406, "the export is served as application/x-ndjson, text/csv"),
        ({"format": "csv"}, "application/x-ndjson", 406, "format=csv is served as text/csv"),
    ],
)
def test_bad_requests_say_what_was_wrong(verdicts, query, accept, status, message):
    response = APIClient().get(URL, query, **({"HTTP_ACCEPT": accept} if accept else {}))
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(message)
