"""CSV banks: a header row, then one question per row, optionally with one model's answer to it.

Columns (names are case-insensitive): "text" (or "question" or "prompt") is required; "id",
"category" (default GENERAL), "category_name", "category_name_en" (the category's English name),
"text_en" (the question's English translation) and "language" (default detected) are optional;
"model" and "answer" come together, and a row that fills them also yields an answer. Other columns
are ignored. UTF-8, with or without a byte order mark.
"""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from battles.importers.records import (
    DEFAULT_CATEGORY_CODE,
    AnswerRecord,
    ImportRejected,
    ParsedBank,
    QuestionRecord,
    detect_language,
    read_text,
    source_of,
)

_TEXT_COLUMNS = ("text", "question", "prompt")


def _header_columns(path: Path, header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        if not key:
            continue
        if key in columns:
            raise ImportRejected(path, 1, f'the column "{key}" appears twice in the header')
        columns[key] = index
    text_columns = [name for name in _TEXT_COLUMNS if name in columns]
    if not text_columns:
        raise ImportRejected(
            path,
            1,
            f'the header has no "text" column (or "question" or "prompt"); it has: {", ".join(header)}',
        )
    if len(text_columns) > 1:
        raise ImportRejected(
            path, 1, f"the header names the question text twice ({' and '.join(text_columns)}); keep one"
        )
    columns["text"] = columns[text_columns[0]]
    if ("model" in columns) != ("answer" in columns):
        raise ImportRejected(path, 1, 'the header has one of "model" and "answer" without the other')
    return columns


def _rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) for each record; a quoted cell may span lines, so a row is named by its first."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next_row_line = 1
    while True:
        row_line = next_row_line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportRejected(path, reader.line_num, f"not valid CSV: {error}") from None
        next_row_line = reader.line_num + 1
        yield row_line, row


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return row[index].strip() if index is not None else ""


def parse(path: Path) -> ParsedBank:
    parsed = ParsedBank(path=path)
    rows = _rows(path, read_text(path))
    header = next(rows, None)
    if header is None:
        raise ImportRejected(
            path, 1, 'the file is empty; a CSV bank starts with a header row naming a "text" column'
        )
    columns = _header_columns(path, header[1])
    for row_line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header[1]):
            raise ImportRejected(
                path, row_line, f"the row has {len(row)} cells but the header has {len(header[1])}"
            )
        text = _cell(row, columns, "text")
        if not text:
            raise ImportRejected(path, row_line, "the question text is empty")
        category_code = _cell(row, columns, "category") or DEFAULT_CATEGORY_CODE
        source = source_of(path, row_line)
        parsed.questions.append(
            QuestionRecord(
                text=text,
                category_code=category_code,
                category_name=_cell(row, columns, "category_name") or category_code,
                category_name_en=_cell(row, columns, "category_name_en") or "",
                text_en=_cell(row, columns, "text_en") or "",
                language=_cell(row, columns, "language") or detect_language(text),
                external_id=_cell(row, columns, "id") or None,
                source=source,
                line=row_line,
            )
        )
        model, answer = _cell(row, columns, "model"), _cell(row, columns, "answer")
        if answer and not model:
            raise ImportRejected(path, row_line, 'the row has an answer but its "model" cell is empty')
        if model and not answer:
            raise ImportRejected(
                path, row_line, f'the row names the model "{model}" but its "answer" cell is empty'
            )
        if model:
            parsed.answers.append(
                AnswerRecord(
                    model=model,
                    text=answer,
                    question_external_id=None,
                    question_text=text,
                    source=source,
                    line=row_line,
                )
            )
    return parsed
