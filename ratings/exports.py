"""Vote exports, streamed: JSON Lines, CSV, or Chatbot Arena's battle-log format.

Rows come from a server-side cursor in batches and are written as they come, so an export of
millions of votes starts at once and holds only one batch in memory.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from battles.models import Category, Contender
from ratings.services.battle_logs import fastchat_record

FORMATS = ("jsonl", "csv", "clean_battle")
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "clean_battle": "application/json; charset=utf-8",
}
COLUMNS = ("id", "time", "contender_a", "contender_b", "outcome", "category", "language")
_BATCH = 5000


@dataclass(frozen=True)
class VoteFilter:
    after_id: int = 0
    since: datetime | None = None
    until: datetime | None = None
    contender_id: int | None = None
    category_id: int | None = None
    limit: int | None = None

    def sql(self) -> tuple[str, list[int | datetime]]:
        conditions: list[str] = ["v.id > %s"]
        parameters: list[int | datetime] = [self.after_id]
        if self.since is not None:
            conditions.append("v.created_at >= %s")
            parameters.append(self.since)
        if self.until is not None:
            conditions.append("v.created_at < %s")
            parameters.append(self.until)
        if self.contender_id is not None:
            conditions.append("(v.contender_a_id = %s OR v.contender_b_id = %s)")
            parameters += [self.contender_id, self.contender_id]
        if self.category_id is not None:
            conditions.append("v.category_id = %s")
            parameters.append(self.category_id)
        return " AND ".join(conditions), parameters


def last_id_of_page(selection: VoteFilter) -> tuple[int | None, bool]:
    """With a limit: the id of the page's last vote, and whether more votes follow it."""
    if selection.limit is None:
        return None, False
    where, parameters = selection.sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.id FROM battles_vote v WHERE {where} ORDER BY v.id OFFSET %s LIMIT 2",  # noqa: S608
            [*parameters, selection.limit - 1],
        )
        found = [row[0] for row in cursor.fetchall()]
    if not found:
        return None, False
    return found[0], len(found) == 2


def _rows(
    selection: VoteFilter, *, with_voter: bool
) -> Iterator[tuple[int, datetime, int, int, str, int | None, str, str | None, str | None, str]]:
    where, parameters = selection.sql()
    limit = "" if selection.limit is None else f"LIMIT {int(selection.limit)}"
    columns = (
        "v.id, v.created_at, v.contender_a_id, v.contender_b_id, v.outcome, v.category_id, v.language, "
        + ("v.voter_id::text" if with_voter else "NULL")  # as text: no UUID object per row
    )
    tables = (
        "battles_vote v LEFT JOIN battles_battle b ON b.id = v.battle_id "
        "LEFT JOIN battles_question q ON q.id = b.question_id"
    )
    sql = (
        f"SELECT {columns}, v.external_id, coalesce(q.language, '') FROM {tables} "  # noqa: S608 (no outside text)
        f"WHERE {where} ORDER BY v.id {limit}"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, parameters)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch


def _json_text(known: dict[str, str], text: str) -> str:
    known[text] = json.dumps(text, ensure_ascii=False)
    return known[text]


def _spreadsheet_safe(value: object) -> object:
    """A text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
    apostrophe, which spreadsheets show as text; other values pass as they are."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")


def votes_export(*, selection: VoteFilter, export_format: str) -> Iterator[str]:
    """The export as text pieces, one batch of votes at a time."""
    names = dict(Contender.objects.values_list("id", "name"))
    codes = dict(Category.objects.values_list("id", "code"))
    if export_format == "csv":  # once per name, not once per row
        names = {key: str(_spreadsheet_safe(name)) for key, name in names.items()}
        codes = {key: str(_spreadsheet_safe(code)) for key, code in codes.items()}
    names_json = {key: json.dumps(name, ensure_ascii=False) for key, name in names.items()}
    codes_json = {key: json.dumps(code, ensure_ascii=False) for key, code in codes.items()}
    languages_json: dict[str, str] = {}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if export_format == "csv":
        writer.writerow(COLUMNS)
    elif export_format == "clean_battle":
        buffer.write("[")
    written = 0
    for written, row in enumerate(_rows(selection, with_voter=export_format == "clean_battle"), start=1):
        (
            vote_id,
            created_at,
            side_a,
            side_b,
            outcome,
            category_id,
            language,
            voter_id,
            external_id,
            question_language,
        ) = row
        language = language or question_language
        if export_format == "clean_battle":
            record = fastchat_record(
                vote_id=vote_id,
                model_a=names[side_a],
                model_b=names[side_b],
                outcome=outcome,
                created_at=created_at,
                external_id=external_id,
                language=language,
                voter_id=voter_id,
            )
            buffer.write(("\n" if written == 1 else ",\n") + json.dumps(record, ensure_ascii=False))
        else:
            category = codes.get(category_id) if category_id else None
            values = (
                vote_id,
                created_at.isoformat(),
                names[side_a],
                names[side_b],
                outcome,
                category,
                language,
            )
            if export_format == "csv":
                writer.writerow((*values[:6], _spreadsheet_safe(language)))  # names: made safe above
            else:
                # The line json.dumps would write, from pieces encoded once per name and language.
                buffer.write(
                    f'{{"id": {vote_id}, "time": "{values[1]}", "contender_a": {names_json[side_a]}, '
                    f'"contender_b": {names_json[side_b]}, "outcome": "{outcome}", '
                    f'"category": {codes_json[category_id] if category_id else "null"}, '
                    f'"language": {languages_json.get(language) or _json_text(languages_json, language)}}}\n'
                )
        if written % _BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if export_format == "clean_battle":
        buffer.write("\n]\n" if written else "]\n")
    yield buffer.getvalue()
