"""Verdict exports, streamed: JSON Lines or CSV, each finished verdict of a voted battle with the
battle's counted human vote beside it (what a study of judges against voters needs in one file). A
selector module: it reads, never writes.

Rows come from a server-side cursor in batches and are written as they come, so an export of millions
of verdicts starts at once and holds only one batch in memory.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection

from arena.db.paging import page_end
from arena.db.times import as_utc
from battles.models import Battle, Vote
from battles.selectors import category_codes_by_id, contender_names_by_id
from judges.models import Judge, Verdict
from ratings.selectors_exports import spreadsheet_safe

FORMATS = ("jsonl", "csv")
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
COLUMNS = (
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
)
_BATCH = 5000
FINISHED = (Verdict.Status.DONE, Verdict.Status.UNPARSEABLE)
_OUTCOMES_JSON: dict[str | None, str] = {None: "null"} | {
    outcome: f'"{outcome}"' for outcome in Vote.Outcome.values
}


@dataclass(frozen=True)
class VerdictFilter:
    after_id: int = 0
    judge_id: int | None = None
    category_id: int | None = None
    limit: int | None = None

    def sql(self) -> tuple[str, list[str | int]]:
        """The WHERE clause (over judges_verdict v and battles_battle b) and its parameters: the
        finished verdicts (done or unparseable) of voted battles. A battle still open for voting is
        left out: its row would name its models to anyone who holds it (a voter knows their battle's
        id)."""
        where = ["v.status IN (%s, %s)", "b.status = %s", "v.id > %s"]
        parameters: list[str | int] = [*FINISHED, Battle.Status.VOTED, self.after_id]
        if self.judge_id is not None:
            where.append("v.judge_id = %s")
            parameters.append(self.judge_id)
        if self.category_id is not None:
            where.append("v.category_id = %s")
            parameters.append(self.category_id)
        return " AND ".join(where), parameters


_TABLES = "judges_verdict v JOIN battles_battle b ON b.id = v.battle_id"


def last_id_of_page(selection: VerdictFilter) -> tuple[int | None, bool]:
    """With a limit: the id of the page's last verdict, and whether more verdicts follow it."""
    where, parameters = selection.sql()
    return page_end(tables=_TABLES, where=where, parameters=parameters, limit=selection.limit)


def _rows(selection: VerdictFilter) -> Iterator[tuple[Any, ...]]:
    """The selected verdicts in id order with their question, prompt version and the battle's counted
    vote (one at most: a battle has one vote), from a server-side cursor."""
    where, parameters = selection.sql()
    limit = "" if selection.limit is None else f"LIMIT {int(selection.limit)}"
    sql = (
        'SELECT v.id, v.finished_at, v.judge_id, v.battle_id, v."order", b.question_id, v.category_id, '
        "v.contender_a_id, v.contender_b_id, v.status, v.label, v.score, p.version, h.outcome "
        f"FROM {_TABLES} LEFT JOIN judges_judgeprompt p ON p.id = v.prompt_id "
        "LEFT JOIN battles_vote h ON h.battle_id = v.battle_id AND h.excluded_reasons = '' "
        f"WHERE {where} ORDER BY v.id {limit}"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, parameters)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch


def _json(value: object) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def _json_text(known: dict[str, str], text: str) -> str:
    known[text] = json.dumps(text, ensure_ascii=False)
    return known[text]


def verdicts_export(*, selection: VerdictFilter, export_format: str) -> Iterator[str]:
    """The export as text pieces, one batch of verdicts at a time. Scores and sides are the battle's
    (A as the voters saw it), whichever order the judge was shown; human_outcome is the battle's
    counted vote (a, b, tie or both_bad), null when it has none or its vote was left out."""
    names = contender_names_by_id()
    codes = category_codes_by_id()
    judges = dict(Judge.objects.values_list("id", "contender_id"))
    csv_format = export_format == "csv"
    if csv_format:  # once per name, not once per row
        names = {key: str(spreadsheet_safe(name)) for key, name in names.items()}
        codes = {key: str(spreadsheet_safe(code)) for key, code in codes.items()}
    # Names and codes encoded once, not once per row (JSON Lines).
    names_json = {key: _json(name) for key, name in names.items()}
    codes_json = {key: _json(code) for key, code in codes.items()}
    labels: dict[str, str] = {}  # a few labels, each encoded once
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if csv_format:
        writer.writerow(COLUMNS)
    for written, row in enumerate(_rows(selection), start=1):
        verdict_id, finished_at, judge_id, battle_id, order, question_id, category_id, side_a, side_b = row[
            :9
        ]
        status, label, score, prompt_version, human_outcome = row[9:]
        time = as_utc(finished_at).isoformat() if finished_at else None
        judge = judges[judge_id]
        if csv_format:
            writer.writerow(
                (
                    *(verdict_id, time, names[judge], battle_id, order, question_id),
                    *(codes.get(category_id) if category_id else None, names[side_a], names[side_b]),
                    *(status, spreadsheet_safe(label), score, prompt_version, human_outcome),
                )
            )
        else:
            # The line json.dumps would write, from pieces encoded once per name and code.
            buffer.write(
                f'{{"id": {verdict_id}, "time": {_json(time)}, "judge": {names_json[judge]}, '
                f'"battle": {battle_id}, "order": "{order}", "question": {question_id}, '
                f'"category": {codes_json[category_id] if category_id else "null"}, '
                f'"contender_a": {names_json[side_a]}, "contender_b": {names_json[side_b]}, '
                f'"status": "{status}", "label": {labels.get(label) or _json_text(labels, label)}, '
                f'"score": {"null" if score is None else score}, '
                f'"prompt_version": {"null" if prompt_version is None else prompt_version}, '
                f'"human_outcome": {_OUTCOMES_JSON[human_outcome]}}}\n'
            )
        if written % _BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
