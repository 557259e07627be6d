"""Vote exports, streamed: JSON Lines, CSV, or Chatbot Arena's battle-log format. A selector module:
it reads, never writes.

Rows come from a server-side cursor in batches (ratings/selectors_vote_table.py) and are written as
they come, so an export of millions of votes starts at once and holds only one batch in memory.
"""

import csv
import io
import json
import uuid
from collections.abc import Iterator

from arena.db.times import as_utc
from battles.selectors import category_codes_by_id, contender_names_by_id
from ratings.selectors_vote_table import VoteFilter, last_id_of_page, vote_export_rows
from ratings.services.battle_logs import fastchat_record

__all__ = ["COLUMNS", "CONTENT_TYPES", "FORMATS", "VoteFilter", "last_id_of_page", "votes_export"]

FORMATS = ("jsonl", "csv", "clean_battle")
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "clean_battle": "application/json; charset=utf-8",
}
COLUMNS = ("id", "time", "contender_a", "contender_b", "outcome", "category", "language")
_BATCH = 5000


def _json_text(known: dict[str, str], text: str) -> str:
    known[text] = json.dumps(text, ensure_ascii=False)
    return known[text]


def spreadsheet_safe(value: object) -> object:
    """A text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
    apostrophe, which spreadsheets show as text; other values pass as they are."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")


def votes_export(*, selection: VoteFilter, export_format: str) -> Iterator[str]:
    """The export as text pieces, one batch of votes at a time."""
    names = contender_names_by_id()
    codes = category_codes_by_id()
    if export_format == "csv":  # once per name, not once per row
        names = {key: str(spreadsheet_safe(name)) for key, name in names.items()}
        codes = {key: str(spreadsheet_safe(code)) for key, code in codes.items()}
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
    rows = vote_export_rows(selection, with_voter=export_format == "clean_battle", batch_rows=_BATCH)
    for written, row in enumerate(rows, start=1):
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
        created_at = as_utc(created_at)
        if export_format == "clean_battle":
            if voter_id is not None and "-" not in voter_id:  # SQLite keeps a UUID as 32 hex digits
                voter_id = str(uuid.UUID(voter_id))  # the pseudonym is of the id as the ORM gives it
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
                writer.writerow((*values[:6], spreadsheet_safe(language)))  # names: made safe above
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
