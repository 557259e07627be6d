import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ratings.selectors import leaderboard_as_dicts, leaderboard_latest


class Command(BaseCommand):
    help = "Print the latest leaderboard snapshot, as a table or as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON: one object per contender.")

    def handle(self, *args: Any, **options: Any) -> None:
        leaderboard = leaderboard_latest()
        if options["json"]:
            self.stdout.write(json.dumps(leaderboard_as_dicts(leaderboard), ensure_ascii=False, indent=2))
            return
        snapshot = leaderboard.snapshot
        if snapshot is None:
            self.stdout.write("No snapshot yet: the ratings are computed after the first vote.")
            return
        taken = f"{snapshot.created_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"Snapshot {snapshot.pk} of {taken}, {snapshot.vote_count} votes")
        name_width = max([len(row.contender.name) for row in leaderboard.rows] + [5])
        self.stdout.write(f"{'#':>3}  {'model':<{name_width}}  {'win rate':>8}  {'elo':>7}  {'votes':>6}")
        for rank, row in enumerate(leaderboard.rows, start=1):
            win_rate = "—" if row.win_rate is None else f"{row.win_rate:.1%}"
            name = f"{row.contender.name:<{name_width}}"
            self.stdout.write(f"{rank:>3}  {name}  {win_rate:>8}  {row.elo:>7.1f}  {row.votes:>6}")
