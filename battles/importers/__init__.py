"""Question-bank parsers, one module per input format; `parse_file` picks one by the file's suffix.

Parsers are pure: they read one file and return records, or raise ImportRejected naming the line.
Writing to the database is the job of battles.services.bank.
"""

from collections.abc import Callable
from pathlib import Path

from battles.importers import csv_bank, jsonl, seed_markdown
from battles.importers.records import ImportRejected, ParsedBank

PARSERS_BY_SUFFIX: dict[str, Callable[[Path], ParsedBank]] = {
    ".jsonl": jsonl.parse,
    ".ndjson": jsonl.parse,
    ".csv": csv_bank.parse,
    ".md": seed_markdown.parse,
    ".markdown": seed_markdown.parse,
}


def parse_file(path: Path) -> ParsedBank:
    parser = PARSERS_BY_SUFFIX.get(path.suffix.lower())
    if parser is None:
        supported = ", ".join(PARSERS_BY_SUFFIX)
        raise ImportRejected(
            path, None, f"unsupported file type {path.suffix or '(no suffix)'!r}; supported: {supported}"
        )
    return parser(path)
