from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from battles.services.seeding import arena_seed


class Command(BaseCommand):
    help = (
        "Add synthetic votes for benchmarks (PostgreSQL): contenders with hidden strengths, pairs drawn with "
        "a skew towards popular contenders, outcomes following the strengths. Then run ratings_rebuild."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--votes", type=int, default=1_700_000)
        parser.add_argument("--contenders", type=int, default=130)
        parser.add_argument("--questions", type=int, default=500)
        parser.add_argument("--voters", type=int, default=10_000)
        parser.add_argument("--seed", type=float, default=0.42)

    def handle(self, *args: Any, **options: Any) -> None:
        report = arena_seed(
            contenders=options["contenders"],
            questions=options["questions"],
            voters=options["voters"],
            votes_without_battle=options["votes"],
            seed=options["seed"],
        )
        self.stdout.write(f"seeded {report.votes_without_battle} votes over {report.contenders} contenders")
