"""JSON Lines banks: one object per line, each a question, an answer, or both.

A question line has "text" and optionally "id", "category" (a code, default GENERAL),
"category_name" or "category_zh" (display name, default the code), "category_name_en" (its English
name, shown in the English interface), "text_en" (the question's English translation, shown under
it in the English interface), "language" (default detected from the text) and "is_active". An
answer line has "model", "answer" and the question it answers, as "question_id" or as "question"
text. A line with "text", "model" and "answer" is both: a question and one answer to it. Keys not
named here are ignored, so richer exports load as they are.
"""

import json
from pathlib import Path
from typing import Any

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

_REFERENCE_KEYS = ("question_id", "question")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "an object"
    )


class _Line:
    """Typed access to one line's object; every complaint names the line."""

    def __init__(self, path: Path, number: int, data: dict[str, Any]) -> None:
        self.path = path
        self.number = number
        self.data = data

    def reject(self, reason: str) -> ImportRejected:
        return ImportRejected(self.path, self.number, reason)

    def required_string(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            raise self.reject(f'"{key}" is missing')
        if not isinstance(value, str):
            raise self.reject(f'"{key}" must be a string, not {_type_name(value)}')
        if not value.strip():
            raise self.reject(f'"{key}" is empty')
        return value.strip()

    def optional_string(self, key: str) -> str | None:
        if self.data.get(key) is None:
            return None
        return self.required_string(key)

    def optional_identifier(self, key: str) -> str | None:
        # Integer ids are common in hand-made banks; they mean the same as their decimal string.
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.optional_string(key)

    def optional_boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.reject(f'"{key}" must be true or false, not {_type_name(value)}')
        return value


def _question(line: _Line) -> QuestionRecord:
    text = line.required_string("text")
    category_code = line.optional_string("category") or DEFAULT_CATEGORY_CODE
    category_name = (
        line.optional_string("category_name") or line.optional_string("category_zh") or category_code
    )
    return QuestionRecord(
        text=text,
        category_code=category_code,
        category_name=category_name,
        category_name_en=line.optional_string("category_name_en") or "",
        text_en=line.optional_string("text_en") or "",
        language=line.optional_string("language") or detect_language(text),
        external_id=line.optional_identifier("id"),
        source=source_of(line.path, line.number),
        line=line.number,
        is_active=line.optional_boolean("is_active", default=True),
    )


def _transcript(line: _Line) -> str | None:
    """A multi-turn answer from its "turns" list: user turns as block quotes, turns apart by a blank line.

    Without the blank line, markdown would pull each reply into the quote of the question before it.
    """
    turns = line.data.get("turns")
    if turns is None:
        return None
    if not isinstance(turns, list) or not turns:
        raise line.reject('"turns" must be a non-empty list of {"role", "content"} objects')
    parts: list[str] = []
    for position, turn in enumerate(turns, start=1):
        role = turn.get("role") if isinstance(turn, dict) else None
        content = turn.get("content") if isinstance(turn, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise line.reject(f'turn {position} of "turns" needs role user or assistant, and "content" text')
        if role == "user":
            parts.append("\n".join(f"> {text_line}" for text_line in content.strip().split("\n")))
        else:
            parts.append(content.strip())
    return "\n\n".join(part for part in parts if part.strip())


def _answer(line: _Line, question: QuestionRecord | None) -> AnswerRecord:
    model = line.required_string("model")
    text = _transcript(line) or line.required_string("answer")
    question_external_id: str | None = None
    question_text: str | None = None
    if question is not None:
        question_text = question.text
    else:
        question_external_id = line.optional_identifier("question_id")
        question_text = None if question_external_id is not None else line.optional_string("question")
        if question_external_id is None and question_text is None:
            raise line.reject('an answer needs "question_id" or "question" to say which question it answers')
    return AnswerRecord(
        model=model,
        text=text,
        question_external_id=question_external_id,
        question_text=question_text,
        source=source_of(line.path, line.number),
        line=line.number,
    )


def parse(path: Path) -> ParsedBank:
    parsed = ParsedBank(path=path)
    # Split on "\n" only: str.splitlines() would also split on U+2028 and other characters that JSON
    # allows unescaped inside strings.
    for number, raw_line in enumerate(read_text(path).split("\n"), start=1):
        if not raw_line.strip():
            continue
        try:
            data = json.loads(raw_line)
        except json.JSONDecodeError as error:
            raise ImportRejected(path, number, f"invalid JSON: {error.msg} at column {error.colno}") from None
        if not isinstance(data, dict):
            raise ImportRejected(path, number, f"expected a JSON object, not {_type_name(data)}")
        line = _Line(path, number, data)
        is_question = "text" in data
        # A question line may carry its own answer ("model" and "answer"); a reference to another
        # question only makes sense on a line that is not itself a question.
        is_answer = (
            "model" in data
            or "answer" in data
            or (not is_question and any(k in data for k in _REFERENCE_KEYS))
        )
        if not is_question and not is_answer:
            raise line.reject(
                'neither a question (needs "text") nor an answer (needs "question_id" or "question", '
                '"model" and "answer")'
            )
        question = _question(line) if is_question else None
        if question is not None:
            parsed.questions.append(question)
        if is_answer:
            parsed.answers.append(_answer(line, question))
    return parsed
