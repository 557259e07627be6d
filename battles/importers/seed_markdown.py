"""The markdown in which the Chinese LLaMA/Alpaca projects publish their question bank and answers.

Two layouts, told apart by the bank tables' headers:

- One file per category: a `# <category>` title, a score table (ignored), then a table
  `| # | Prompt | <model> | <model> | ... |`. The code file also has items `**N、question**`,
  each followed by `<model>:` lines with one fenced block per model.
- One file per model: a `# <model>` title, then `### <category>` sections, each with a table
  `| # | Prompt | Response |`; the code section is free markdown with items `N、question`.

A table whose second column is `Topic` (or 主题) holds dialogue transcripts: the question is the
first user turn (`> ...` lines, or `**> ...**` in the later projects) and the answer is the whole
transcript, user turns as markdown block quotes. Cells use `<br/>` for line breaks and escape
`\\|`, `\\>` and `\\<`. Model names drop a leading 中文 (the same model is `中文Plus-7B` in one
table header and `Plus-7B` elsewhere).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from battles.importers.records import (
    AnswerRecord,
    ImportRejected,
    ParsedBank,
    QuestionRecord,
    detect_language,
    read_text,
    source_of,
)

# The seed's category names; a name not listed here becomes its own code.
CATEGORY_CODES = {
    "知识问答": "QA",
    "开放式问答": "OQA",
    "数值计算、推理": "REASONING",
    "诗词、文学、哲学": "LITERATURE",
    "音乐、体育、娱乐": "ENTERTAINMENT",
    "写信、写文章": "GENERATION",
    "文本翻译": "TRANSLATION",
    "多轮交互": "DIALOGUE",
    "多轮对话": "DIALOGUE",
    "代码编程": "CODE",
    "伦理、拒答": "ETHICS",
}
_PROMPT_HEADERS = {"prompt", "question", "问题", "题目"}
_TOPIC_HEADERS = {"topic", "主题"}
_RESPONSE_HEADERS = {"response", "answer", "output", "回复", "回答", "输出"}

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_BOLD_ITEM = re.compile(r"^\*\*\s*(\d+)\s*、\s*(.+?)\s*\*\*\s*$")
_PLAIN_ITEM = re.compile(r"^(\d+)\s*、\s*(.+?)\s*$")
_MODEL_LABEL = re.compile(r"^([^\s:：|#>*`][^:：|`]{0,198}?)\s*[:：]\s*$")
_LINE_BREAK_TAG = re.compile(r"<\s*/?\s*br\s*/?\s*>", re.IGNORECASE)
_CELL_ESCAPE = re.compile(r"\\([\\|<>])")
_BOLD_USER_TURN = re.compile(r"^\*\*\s*>\s*(.*?)\s*\*\*$")
# Not ">>": that is a Python prompt inside a reply, not a user turn.
_QUOTE_USER_TURN = re.compile(r"^>(?!>)\s?(.*)$")


def category_code_for(name: str) -> str:
    return CATEGORY_CODES.get(name, name)


def model_name_for(label: str) -> str:
    return label.strip().strip("*").strip().removeprefix("中文").strip()


@dataclass
class _Heading:
    level: int
    text: str
    line: int


@dataclass
class _Table:
    line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]
    section: _Heading | None


@dataclass
class _Item:
    line: int
    number: int
    question: str
    section: _Heading | None
    body: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Document:
    title: _Heading | None = None
    tables: list[_Table] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)


def split_cells(row: str) -> list[str]:
    """The raw cells of a table row, split on `|` that is not escaped by a backslash."""
    text = row.strip()
    if text.startswith("|"):
        text = text[1:]
    cells: list[str] = []
    current: list[str] = []
    ends_with_separator = False
    index = 0
    while index < len(text):
        character = text[index]
        ends_with_separator = False
        if character == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if character == "|":
            cells.append("".join(current))
            current = []
            ends_with_separator = True
        else:
            current.append(character)
        index += 1
    if not ends_with_separator:
        cells.append("".join(current))
    return cells


def clean_cell(cell: str) -> str:
    text = _LINE_BREAK_TAG.sub("\n", cell.strip())
    text = _CELL_ESCAPE.sub(lambda match: match.group(0) if match.group(1) == "\\" else match.group(1), text)
    return text.strip()


def _is_bank_header(header: list[str]) -> bool:
    return (
        len(header) >= 3
        and header[0] == "#"
        and header[1].strip("*").strip().lower() in _PROMPT_HEADERS | _TOPIC_HEADERS
    )


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0])


def _scan(path: Path, lines: list[str]) -> _Document:
    """One pass over the lines: the title, the bank tables and the numbered items, outside code fences."""
    document = _Document()
    section: _Heading | None = None
    item: _Item | None = None
    fence: str | None = None
    fence_line = 0
    index = 0
    while index < len(lines):
        text, number = lines[index], index + 1
        index += 1
        if fence is not None:
            if _closes_fence(text, fence):
                fence = None
            if item is not None:
                item.body.append((number, text))
            continue
        fence_match = _FENCE.match(text)
        if fence_match:
            fence, fence_line = fence_match.group(1), number
            if item is not None:
                item.body.append((number, text))
            continue
        heading_match = _HEADING.match(text)
        if heading_match:
            item = None
            heading = _Heading(len(heading_match.group(1)), heading_match.group(2).strip(), number)
            if heading.level == 1:
                document.title = document.title or heading
            else:
                section = heading
            continue
        if text.lstrip().startswith("|") and index < len(lines) and _DELIMITER_ROW.match(lines[index]):
            item = None
            header = [clean_cell(cell) for cell in split_cells(text)]
            rows: list[tuple[int, list[str]]] = []
            index += 1
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append((index + 1, split_cells(lines[index])))
                index += 1
            if _is_bank_header(header):
                document.tables.append(_Table(number, header, rows, section))
            continue
        bold_match = _BOLD_ITEM.match(text.strip())
        if bold_match:
            item = _Item(number, int(bold_match.group(1)), clean_cell(bold_match.group(2)), section)
            document.items.append(item)
            continue
        plain_match = _PLAIN_ITEM.match(text.strip())
        if plain_match and _starts_plain_item(lines, index - 1, int(plain_match.group(1)), item, section):
            item = _Item(number, int(plain_match.group(1)), plain_match.group(2), section)
            document.items.append(item)
            continue
        if item is not None:
            item.body.append((number, text))
    if fence is not None:
        raise ImportRejected(path, fence_line, "a code fence opened here is never closed")
    return document


def _starts_plain_item(
    lines: list[str], index: int, number: int, item: _Item | None, section: _Heading | None
) -> bool:
    """Whether `N、text` starts a new item of a free-markdown code section rather than sitting in an answer.

    Only under a heading that names a seed category, standing alone between blank lines, and
    numbered one past the item before it in the same section (1 for the first).
    """
    if section is None or section.text not in CATEGORY_CODES:
        return False
    previous_blank = index == 0 or not lines[index - 1].strip()
    next_blank = index + 1 >= len(lines) or not lines[index + 1].strip()
    if not (previous_blank and next_blank):
        return False
    previous_number = item.number if item is not None and item.section is section else 0
    return number == previous_number + 1


def transcript_of(cell: str) -> tuple[str | None, str]:
    """The first user turn of a dialogue transcript, and the transcript with user turns as block quotes.

    Turns are separated by blank lines: without them, markdown would pull the reply that follows a
    quoted line into the quote.
    """
    blocks: list[tuple[bool, list[str]]] = []
    for raw_line in cell.split("\n"):
        turn = _BOLD_USER_TURN.match(raw_line.strip()) or _QUOTE_USER_TURN.match(raw_line.strip())
        is_user = turn is not None
        content = turn.group(1).strip() if turn is not None else raw_line.rstrip()
        if is_user and not content:
            continue
        if blocks and blocks[-1][0] == is_user:
            blocks[-1][1].append(content)
        else:
            blocks.append((is_user, [content]))
    question = next(("\n".join(lines) for is_user, lines in blocks if is_user), None)
    parts: list[str] = []
    for is_user, lines in blocks:
        part = "\n".join(f"> {line}" for line in lines) if is_user else "\n".join(lines).strip("\n")
        if part.strip():
            parts.append(part)
    return question, "\n\n".join(parts)


class _Builder:
    """Turns the scanned document into records, rejecting what cannot be read with its line."""

    def __init__(self, path: Path, document: _Document) -> None:
        self.path = path
        self.document = document
        self.parsed = ParsedBank(path=path)

    def reject(self, line: int, reason: str) -> ImportRejected:
        return ImportRejected(self.path, line, reason)

    def add_question(self, text: str, category: _Heading, line: int) -> None:
        self.parsed.questions.append(
            QuestionRecord(
                text=text,
                category_code=category_code_for(category.text),
                category_name=category.text,
                language=detect_language(text),
                external_id=None,
                source=source_of(self.path, line),
                line=line,
            )
        )

    def add_answer(self, model: str, text: str, question: str, line: int) -> None:
        self.parsed.answers.append(
            AnswerRecord(
                model=model,
                text=text,
                question_external_id=None,
                question_text=question,
                source=source_of(self.path, line),
                line=line,
            )
        )

    def is_per_model(self) -> bool:
        """True for one file per model (tables `| # | Prompt | Response |`), False for one per category."""
        kinds = [
            len(table.header) == 3 and table.header[2].strip("*").strip().lower() in _RESPONSE_HEADERS
            for table in self.document.tables
        ]
        if not kinds:
            title = self.document.title
            return title is not None and title.text not in CATEGORY_CODES
        if any(kind != kinds[0] for kind in kinds):
            other = next(
                table for table, kind in zip(self.document.tables, kinds, strict=True) if kind != kinds[0]
            )
            raise self.reject(
                other.line,
                "this file mixes tables with one Response column (one file per model) and tables with "
                "a column per model (one file per category); use one layout per file",
            )
        return kinds[0]

    def section_of(self, section: _Heading | None, line: int) -> _Heading:
        if section is None:
            raise self.reject(
                line, "in a file per model, each table or item must sit under a '### <category>' heading"
            )
        return section

    def add_table(self, table: _Table, per_model: bool, title: _Heading) -> None:
        is_dialogue = table.header[1].strip("*").strip().lower() in _TOPIC_HEADERS
        category = self.section_of(table.section, table.line) if per_model else title
        models = (
            [model_name_for(title.text)]
            if per_model
            else [model_name_for(label) for label in table.header[2:]]
        )
        for column, model in enumerate(models, start=3):
            if not model:
                raise self.reject(table.line, f"column {column} of the table header has no model name")
        for line, raw_cells in table.rows:
            if len(raw_cells) != len(table.header):
                raise self.reject(
                    line,
                    f"the row has {len(raw_cells)} cells but the table header (line {table.line}) has "
                    f"{len(table.header)}; a '|' inside a cell must be written '\\|'",
                )
            cells = [clean_cell(cell) for cell in raw_cells]
            if not cells[1]:
                raise self.reject(line, f"the {table.header[1]} cell is empty")
            questions_of_row: set[str] = set()
            for model, cell in zip(models, cells[2:], strict=True):
                if not cell:
                    self.parsed.notices.append(f"line {line}: the {model} cell is empty; no answer imported")
                    continue
                if is_dialogue:
                    question, answer = transcript_of(cell)
                    if question is None:
                        raise self.reject(
                            line,
                            f"the {model} transcript has no user turn ('> ...' or '**> ...**'), "
                            "so the question it answers is unknown",
                        )
                else:
                    question, answer = cells[1], cell
                if question not in questions_of_row:
                    questions_of_row.add(question)
                    self.add_question(question, category, line)
                self.add_answer(model, answer, question, line)

    def labelled_answers(self, item: _Item) -> list[tuple[int, str, str]]:
        """`<model>:` lines each followed by a fenced block: (line, model, the block with its fences)."""
        answers: list[tuple[int, str, str]] = []
        body = item.body
        index = 0
        while index < len(body):
            line, text = body[index]
            index += 1
            if not text.strip():
                continue
            label = _MODEL_LABEL.match(text.strip())
            if label is None:
                raise self.reject(
                    line,
                    f"in item {item.number}, expected a '<model>:' line followed by a fenced code block, "
                    f"found {text.strip()[:60]!r}",
                )
            while index < len(body) and not body[index][1].strip():
                index += 1
            fence = _FENCE.match(body[index][1]) if index < len(body) else None
            if fence is None:
                raise self.reject(
                    line, f"in item {item.number}, the answer of {label.group(1)} is not a fenced code block"
                )
            end = index + 1
            while end < len(body) and not _closes_fence(body[end][1], fence.group(1)):
                end += 1
            answers.append(
                (line, model_name_for(label.group(1)), "\n".join(text for _, text in body[index : end + 1]))
            )
            index = end + 1
        if not answers:
            raise self.reject(item.line, f"item {item.number} has no '<model>:' answers")
        return answers

    def add_item(self, item: _Item, per_model: bool, title: _Heading) -> None:
        if not item.question:
            raise self.reject(item.line, f"item {item.number} has no question")
        if per_model:
            category = self.section_of(item.section, item.line)
            answer = "\n".join(text for _, text in item.body).strip("\n")
            if not answer.strip():
                raise self.reject(item.line, f"item {item.number} has no answer")
            self.add_question(item.question, category, item.line)
            self.add_answer(model_name_for(title.text), answer, item.question, item.line)
            return
        self.add_question(item.question, title, item.line)
        for line, model, answer in self.labelled_answers(item):
            self.add_answer(model, answer, item.question, line)

    def build(self) -> ParsedBank:
        document = self.document
        if not document.tables and not document.items:
            self.parsed.notices.append("no question table found")
            return self.parsed
        title = document.title
        if title is None:
            first_line = min(
                [table.line for table in document.tables] + [item.line for item in document.items]
            )
            raise self.reject(
                first_line, "the file has no '# <category>' or '# <model>' title before its questions"
            )
        per_model = self.is_per_model()
        blocks: list[tuple[int, _Table | _Item]] = [(table.line, table) for table in document.tables]
        blocks += [(item.line, item) for item in document.items]
        for _, block in sorted(blocks, key=lambda pair: pair[0]):
            if isinstance(block, _Table):
                self.add_table(block, per_model, title)
            else:
                self.add_item(block, per_model, title)
        return self.parsed


def parse(path: Path) -> ParsedBank:
    lines = [line.removesuffix("\r") for line in read_text(path).split("\n")]
    return _Builder(path, _scan(path, lines)).build()
