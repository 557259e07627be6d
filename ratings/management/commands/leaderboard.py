import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from battles.selectors import category_by_code, category_codes
from ratings.selectors import leaderboard_as_dicts, leaderboard_latest


class Command(BaseCommand):
    help = "Print the latest leaderboard snapshot, as a table or as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON: one object per contender.")
        parser.add_argument("--category", help="A category code (default: all categories together).")

    def handle(self, *args: Any, **options: Any) -> None:
        category = None
        if options["category"]:
            category = category_by_code(code=options["category"])
            if category is None:
                codes = ", ".join(category_codes()) or "none yet"
                raise CommandError(f"no category {options['category']!r} (categories: {codes})")
        leaderboard = leaderboard_latest(category=category)
        if options["json"]:
            self.stdout.write(json.dumps(leaderboard_as_dicts(leaderboard), ensure_ascii=False, indent=2))
            return
        snapshot = leaderboard.snapshot
        if snapshot is None:
            self.stdout.write("No snapshot yet: the ratings are computed after the first vote.")
            return
        taken = f"{snapshot.created_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"Snapshot {snapshot.pk} of {taken}, {snapshot.vote_count} votes")
        width = max([len(row.contender.name) for row in leaderboard.rows] + [5])
        columns = f"{'model':<{width}}  {'rating':>7}  {'95% interval':>13}  {'win rate':>8}  {'elo':>7}"
        columns += f"  {'votes':>6}"
        self.stdout.write(f"{'#':>3}  {columns}")
        for row in leaderboard.rows:
            win_rate = "—" if row.win_rate is None else f"{row.win_rate:.1%}"
            interval = f"{row.ci_low:.0f}–{row.ci_high:.0f}"
            numbers = f"{row.bt_rating:>7.1f}  {interval:>13}  {win_rate:>8}  {row.elo:>7.1f}  {row.votes:>6}"
            mark = "  (preliminary)" if row.preliminary else ""
            self.stdout.write(f"{row.rank:>3}  {row.contender.name:<{width}}  {numbers}{mark}")
