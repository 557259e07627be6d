import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ratings.services.battle_logs import battles_export


class Command(BaseCommand):
    help = "Write every vote as a Chatbot Arena battle log (the format of FastChat's clean_battle_*.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="a file to write (default: standard output)")

    def handle(self, *args: Any, output: Path | None, **options: Any) -> None:
        if output is None:
            written = battles_export(output=sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as stream:
                written = battles_export(output=stream)
        sys.stderr.write(f"{written} battles written\n")
