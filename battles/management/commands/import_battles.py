import os
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from battles.importers.battle_log import BattleLogRejected
from battles.services.battle_logs import battle_log_import


class _Progress:
    """A progress bar on stderr, by the share of the file read."""

    def __init__(self, total_bytes: int) -> None:
        self.total = max(1, total_bytes)
        self.done = 0
        self.started = time.monotonic()
        self.shown = -1

    def __call__(self, read: int) -> None:
        self.done += read
        percent = min(100, self.done * 100 // self.total)
        if percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4)
            rate = self.done / max(1e-6, time.monotonic() - self.started) / 1e6
            sys.stderr.write(f"\r[{bar:<25}] {percent:3d}%  {rate:.1f} MB/s")
            sys.stderr.flush()


class Command(BaseCommand):
    help = (
        "Import a Chatbot Arena battle log (FastChat's clean_battle_*.json: a JSON list of objects with "
        "model_a, model_b, winner, tstamp): models become offline contenders (the name of an endpoint "
        "contender is refused), votes keep their time. "
        "Streams the file (memory stays flat), all or nothing, then rebuilds the ratings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, file: Path, quiet: bool, **options: Any) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        progress = None if quiet else _Progress(os.path.getsize(file))
        try:
            with file.open(encoding="utf-8") as stream:
                report = battle_log_import(stream=stream, progress=progress)
        except BattleLogRejected as rejection:
            raise CommandError(f"{file}: {rejection}. Nothing was imported.") from rejection
        except UnicodeDecodeError as error:
            raise CommandError(f"{file}: not UTF-8 text ({error.reason}). Nothing was imported.") from error
        if progress:
            sys.stderr.write("\n")
        self.stdout.write(
            f"{file}: {report.battles_read} battles read; {report.votes_created} votes imported, "
            f"{report.votes_existing} already there; {report.contenders_created} contenders created"
        )
