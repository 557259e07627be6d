import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from battles.selectors import category_by_code, category_codes
from judges.selectors import judge_board_latest
from judges.serializers import judge_board_data
from ratings.selectors import leaderboard_as_dicts, leaderboard_latest


class Command(BaseCommand):
    help = "Print the latest leaderboard snapshot, as a table or as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON: one object per contender.")
        parser.add_argument("--category", help="A category code (default: all categories together).")
        parser.add_argument(
            "--style",
            action="store_true",
            help="The style-controlled board: ratings with answer length and markdown held constant.",
        )
        parser.add_argument("--retired", action="store_true", help="Show retired contenders too.")
        parser.add_argument(
            "--board",
            choices=["raw", "style", "judge"],
            help="raw (default), style (as --style), or judge: the board fitted to the LLM judges' "
            "verdicts, with each judge's agreement with the voters.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        category = None
        if options["category"]:
            category = category_by_code(code=options["category"])
            if category is None:
                codes = ", ".join(category_codes()) or "none yet"
                raise CommandError(f"no category {options['category']!r} (categories: {codes})")
        board = options["board"] or ("style" if options["style"] else "raw")
        if board == "judge":
            self._judge_board(category, with_retired=options["retired"], as_json=options["json"])
            return
        options["style"] = board == "style"
        leaderboard = leaderboard_latest(category=category, board=board, with_retired=options["retired"])
        if options["json"]:
            self.stdout.write(json.dumps(leaderboard_as_dicts(leaderboard), ensure_ascii=False, indent=2))
            return
        snapshot = leaderboard.snapshot
        if snapshot is None:
            self.stdout.write("No snapshot yet: the ratings are computed after the first vote.")
            return
        taken = f"{snapshot.created_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"Snapshot {snapshot.pk} of {taken}, {snapshot.vote_count} votes")
        if options["style"]:
            self._style_header(snapshot.parameters.get("style") or {})
        width = max([len(row.contender.name) for row in leaderboard.rows] + [5])
        columns = f"{'model':<{width}}  {'rating':>7}  {'95% interval':>13}  {'win rate':>8}  {'elo':>7}"
        columns += f"  {'votes':>6}"
        columns += f"  {'ranks':>7}  {'robust to':>9}"
        self.stdout.write(f"{'#':>3}  {columns}")
        style = options["style"]
        for row in leaderboard.rows:
            win_rate = "—" if row.win_rate is None else f"{row.win_rate:.1%}"
            rating, low, high, rank, worst = (
                (row.style_rating, row.style_low, row.style_high, row.style_rank, row.style_rank_worst)
                if style and row.style_rating is not None
                else (row.bt_rating, row.ci_low, row.ci_high, row.rank, row.rank_worst)
            )
            interval = f"{low:.0f}–{high:.0f}"
            numbers = f"{rating:>7.1f}  {interval:>13}  {win_rate:>8}  {row.elo:>7.1f}  {row.votes:>6}"
            spread = f"{rank}–{worst}" if worst is not None and worst != rank else f"{rank}"
            robust = (
                ""
                if style or row.robust_votes is None
                else f"{row.robust_votes} vote{'' if row.robust_votes == 1 else 's'}"
            )
            numbers += f"  {spread:>7}  {robust:>9}"
            mark = "  (preliminary)" if row.preliminary else ""
            mark += "  (retired)" if row.contender.is_retired else ""
            self.stdout.write(f"{rank:>3}  {row.contender.name:<{width}}  {numbers}{mark}")

    def _style_header(self, style: dict[str, Any]) -> None:
        if not style.get("coefficients"):
            self.stdout.write("No style-controlled ratings in this snapshot.")
            return
        self.stdout.write(f"Style-controlled, from {style.get('votes', 0)} votes with both answers stored:")
        for item in style["coefficients"]:
            if item.get("constant"):
                self.stdout.write(f"  {item['name']:<8} no difference between the answers to fit")
                continue
            self.stdout.write(
                f"  {item['name']:<8} {item['value']:+.3f}  (95%: {item['low']:+.3f} to {item['high']:+.3f})"
            )

    def _judge_board(self, category: Any, *, with_retired: bool, as_json: bool) -> None:
        board = judge_board_latest(category=category, with_retired=with_retired, with_categories=True)
        data = judge_board_data(board, category)
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))
            return
        if board.snapshot is None:
            self.stdout.write("No judge board yet: it is computed once a judge has judged battles.")
            return
        snapshot = board.snapshot
        taken = f"{snapshot.created_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"Judge board {snapshot.pk} of {taken}, {snapshot.verdict_count} verdicts")
        width = max([len(row["name"]) for row in data["ratings"]] + [5])
        self.stdout.write(
            f"{'#':>3}  {'model':<{width}}  {'rating':>7}  {'95% interval':>13}  {'verdicts':>8}  "
            f"{'human #':>7}"
        )
        for row in data["ratings"]:
            interval = f"{row['low']:.0f}–{row['high']:.0f}"
            human = "—" if row["human_rank"] is None else str(row["human_rank"])
            mark = "  (judges only)" if row["cold_start"] else ""
            self.stdout.write(
                f"{row['rank']:>3}  {row['name']:<{width}}  {row['rating']:>7.1f}  {interval:>13}  "
                f"{row['verdicts']:>8}  {human:>7}{mark}"
            )
        for item in data["agreement"]:
            self.stdout.write(
                f"{item['judge']}: {item['battles']} battles compared, agrees on "
                f"{_share(item['agree_share'])}, kappa {_number(item['kappa'])}, Spearman "
                f"{_number(item['spearman'])}, Kendall {_number(item['kendall'])}, flips "
                f"{_share(item['flip_rate'])} when swapped, longer answer wins "
                f"{_share(item['judge_longer_share'])} (voters {_share(item['human_longer_share'])})"
            )


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
