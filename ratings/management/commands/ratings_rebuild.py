import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ratings.services import ratings_rebuild


class Command(BaseCommand):
    help = "Recompute the pair counters and online Elo from the vote table, then refresh every leaderboard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--categories",
            action="store_true",
            help="refresh each category's board now too (else: within a minute)",
        )

    def handle(self, *args: Any, categories: bool, **options: Any) -> None:
        started = time.monotonic()
        snapshot = ratings_rebuild(categories=categories)
        seconds = time.monotonic() - started
        votes = snapshot.vote_count if snapshot else 0
        self.stdout.write(f"rebuilt from {votes} votes in {seconds:.2f} s")
