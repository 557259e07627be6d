"""Question-bank parsers, one module per input format; `parse_file` picks one by the file's suffix,
and `files_to_import` lists the files that paths given to an import stand for.

Parsers are pure: they read one file and return records, or raise ImportRejected naming the line.
Writing to the database is the job of battles.services.bank. Chatbot Arena's battle logs have their
own streaming reader (battle_log), whose votes battles.services.battle_logs writes.
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


def files_to_import(paths: list[Path]) -> list[Path]:
    """The files to import: each path as given, each directory as its supported files in name order.

    Directories are not searched recursively. A file named twice is imported once.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                child
                for child in path.iterdir()
                if child.is_file() and child.suffix.lower() in PARSERS_BY_SUFFIX
            )
            if not found:
                raise ImportRejected(
                    path, None, f"the directory holds no {', '.join(PARSERS_BY_SUFFIX)} file"
                )
            files.extend(found)
        else:
            files.append(path)
    seen: set[Path] = set()
    unique: list[Path] = []
    for file in files:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            unique.append(file)
    return unique
