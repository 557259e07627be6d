from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from battles.management.seeding import SeedingRefused, arena_seed, seeded_serving_note
from ratings.services import ratings_rebuild


class Command(BaseCommand):
    help = (
        "Add synthetic votes for benchmarks (PostgreSQL): contenders with hidden strengths, pairs drawn with "
        "a skew towards popular contenders, outcomes following the strengths. The leaderboard is rebuilt "
        "from the votes before it finishes. The seeded contenders and questions are not drawn into voters' "
        "battles unless ARENA_SERVE_SEEDED is on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--votes", type=int, default=1_700_000)
        parser.add_argument("--contenders", type=int, default=130)
        parser.add_argument("--questions", type=int, default=500)
        parser.add_argument("--voters", type=int, default=10_000)
        parser.add_argument("--seed", type=float, default=0.42)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = arena_seed(
                contenders=options["contenders"],
                questions=options["questions"],
                voters=options["voters"],
                votes_without_battle=options["votes"],
                seed=options["seed"],
            )
        except SeedingRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        self.stdout.write(
            f"seeded {report.votes_without_battle} votes over {report.contenders} contenders "
            f"and {report.questions} questions"
        )
        snapshot = ratings_rebuild(categories=True)
        votes = snapshot.vote_count if snapshot else 0
        self.stdout.write(
            f"leaderboard rebuilt from {votes} votes: the overall and category boards are up to date"
        )
        self.stdout.write(seeded_serving_note())
