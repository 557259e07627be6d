"""What the parsers hand to the import service: plain records with the file and line they came from.

The parsers never touch the database; every record carries `source` ("file name:line") and `line`,
so the service can point at the exact place when something in a file cannot be imported.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

# The category of a question whose file names none.
DEFAULT_CATEGORY_CODE = "GENERAL"

# CJK Unified Ideographs with extension A, the compatibility block, and extensions B to F plus the
# compatibility supplement. Kana and Hangul are deliberately not included (see detect_language).
_CJK_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def detect_language(text: str) -> str:
    """ "zh" when the text contains at least one CJK ideograph, else "en".

    A deliberately small rule for the banks we import, which are Chinese or English: one ideograph
    is enough, so an English question quoting a Chinese word is classified "zh" (it can only be
    answered by a reader of Chinese). Japanese text with kanji also comes out "zh" and Korean
    Hangul comes out "en"; files in other languages should set `language` explicitly.
    """
    return "zh" if _CJK_IDEOGRAPH.search(text) else "en"


@dataclass(frozen=True)
class QuestionRecord:
    text: str
    category_code: str
    category_name: str
    language: str
    external_id: str | None
    source: str
    line: int
    is_active: bool = True
    category_name_en: str = ""  # the category's English name, where the file gives one
    text_en: str = ""  # the question's English translation, where the file gives one


@dataclass(frozen=True)
class AnswerRecord:
    """One model's answer; exactly one of question_external_id and question_text is set."""

    model: str
    text: str
    question_external_id: str | None
    question_text: str | None
    source: str
    line: int

    def __post_init__(self) -> None:
        if (self.question_external_id is None) == (self.question_text is None):
            raise ValueError("an AnswerRecord refers to its question by external id or by text, exactly one")


@dataclass(frozen=True)
class ParsedBank:
    path: Path
    questions: list[QuestionRecord] = field(default_factory=list)
    answers: list[AnswerRecord] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class ImportRejected(Exception):
    """A file that cannot be imported, with the 1-based line at fault (None when it is the whole file)."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.reason}"
        return f"{self.path}:{self.line}: {self.reason}"


def source_of(path: Path, line: int) -> str:
    return f"{path.name}:{line}"


def read_text(path: Path) -> str:
    """The file's text, UTF-8 with or without a byte order mark; a decoding error names its line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportRejected(path, None, "no such file") from None
    except IsADirectoryError:
        raise ImportRejected(path, None, "is a directory, not a file") from None
    except OSError as error:
        raise ImportRejected(path, None, f"cannot be read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ImportRejected(
            path, line, f"is not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})"
        ) from None
    return text.removeprefix("\ufeff")
