import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from battles.services.tallies import votes_tally, votes_tally_reset


class Command(BaseCommand):
    help = (
        "Count votes by hour and day for the staff dashboard now (beat does it every minute). "
        "With --recount, forget the counts and count every vote again (after importing old votes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recount", action="store_true", help="count every day again from the first vote"
        )

    def handle(self, *args: Any, recount: bool, **options: Any) -> None:
        started = time.monotonic()
        if recount:
            votes_tally_reset()
        report = votes_tally()
        self.stdout.write(
            f"counted {len(report.days_counted)} days ({len(report.days_final)} final) and "
            f"{len(report.hours_counted)} hours in {time.monotonic() - started:.2f} s"
        )
