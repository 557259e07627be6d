from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from battles.management.seeding import SeedingRefused, arena_seed, seeded_serving_note
from ratings.services import ratings_rebuild


class Command(BaseCommand):
    help = (
        "Fill a PostgreSQL database with a synthetic arena of realistic size, for benchmarks: offline "
        "contenders with hidden strengths, questions, voters, voted and open battles, and votes. The "
        "leaderboard is rebuilt from the votes before it finishes. The seeded contenders and questions "
        "are not drawn into voters' battles unless ARENA_SERVE_SEEDED is on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contenders", type=int, default=20)
        parser.add_argument("--questions", type=int, default=2000)
        parser.add_argument("--voters", type=int, default=100_000)
        parser.add_argument(
            "--voted-battles", type=int, default=0, help="battles already voted on, with their votes"
        )
        parser.add_argument("--open-battles", type=int, default=0, help="ready battles waiting for voters")
        parser.add_argument("--votes", type=int, default=0, help="votes without a battle, like imported logs")
        parser.add_argument("--seed", type=float, default=0.42, help="fixes the random sequence (-1 to 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = arena_seed(
                contenders=options["contenders"],
                questions=options["questions"],
                voters=options["voters"],
                voted_battles=options["voted_battles"],
                open_battles=options["open_battles"],
                votes_without_battle=options["votes"],
                seed=options["seed"],
            )
        except SeedingRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        self.stdout.write(
            f"seeded {report.contenders} contenders, {report.questions} questions, {report.voters} voters, "
            f"{report.voted_battles} voted and {report.open_battles} open battles, "
            f"{report.votes_without_battle} votes without a battle"
        )
        snapshot = ratings_rebuild(categories=True)
        votes = snapshot.vote_count if snapshot else 0
        self.stdout.write(
            f"leaderboard rebuilt from {votes} votes: the overall and category boards are up to date"
        )
        self.stdout.write(seeded_serving_note())
