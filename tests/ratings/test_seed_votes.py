"""`manage.py seed_votes` and `seed_arena`: synthetic arenas, with the leaderboard up to date at the end."""

import io

import pytest
from django.core.management import CommandError, call_command

from battles.models import Battle, Category, Contender, Question, Vote
from ratings.models import ALL_CATEGORIES, EloRating, PairCount, RatingSnapshot
from ratings.selectors import leaderboard_latest

pytestmark = pytest.mark.django_db

SEEDED_NOT_SERVED = (
    'the seeded contenders and questions are marked "seeded" and are not drawn into voters\' battles while '
    "ARENA_SERVE_SEEDED is off (set it to true to serve them, e.g. for a load test)"
)


@pytest.fixture(autouse=True)
def _small_bootstrap(settings) -> None:
    settings.ARENA_BOOTSTRAP_ROUNDS = 20
    settings.ARENA_SERVE_SEEDED = False


def run(command: str, *arguments: str) -> list[str]:
    output = io.StringIO()
    call_command(command, *arguments, stdout=output)
    return output.getvalue().splitlines()


def test_seed_votes_leaves_every_board_up_to_date() -> None:
    lines = run("seed_votes", "--votes", "3000", "--contenders", "6", "--questions", "30", "--voters", "40")

    assert lines == [
        "seeded 3000 votes over 6 contenders and 30 questions",
        "leaderboard rebuilt from 3000 votes: the overall and category boards are up to date",
        SEEDED_NOT_SERVED,
    ]
    assert Vote.objects.count() == 3000
    board = leaderboard_latest()
    assert board.snapshot is not None and board.snapshot.vote_count == 3000
    assert sorted(row.contender.name for row in board.rows) == [f"seed-model-000{n}" for n in range(1, 7)]
    # Each vote counts for both of its contenders.
    assert sum(row.votes for row in board.rows) == 2 * 3000
    categories = list(Category.objects.filter(code__startswith="seed-"))
    assert len(categories) == 10
    for category in categories:
        category_board = leaderboard_latest(category=category)
        assert category_board.snapshot is not None
        assert category_board.snapshot.vote_count == Vote.objects.filter(category=category).count()
    assert RatingSnapshot.objects.filter(category__isnull=False).count() == 10
    # The counters and Elo the next votes build on agree with the vote table.
    overall = PairCount.objects.filter(category_key=ALL_CATEGORIES)
    assert sum(overall.values_list("count", flat=True)) == 3000
    assert EloRating.objects.filter(category_key=ALL_CATEGORIES).count() == 6
    assert set(Contender.objects.values_list("origin", flat=True)) == {"seeded"}
    assert set(Question.objects.values_list("origin", flat=True)) == {"seeded"}


def test_seed_arena_marks_its_rows_and_leaves_the_board_up_to_date() -> None:
    lines = run(
        "seed_arena",
        *["--contenders", "4", "--questions", "6", "--voters", "10"],
        *["--voted-battles", "50", "--open-battles", "8", "--votes", "20"],
    )

    assert lines == [
        "seeded 4 contenders, 6 questions, 10 voters, 50 voted and 8 open battles, 20 votes without a battle",
        "leaderboard rebuilt from 70 votes: the overall and category boards are up to date",
        SEEDED_NOT_SERVED,
    ]
    board = leaderboard_latest()
    assert board.snapshot is not None and board.snapshot.vote_count == 70
    assert len(board.rows) == 4
    assert Battle.objects.filter(status=Battle.Status.VOTED).count() == 50
    assert Battle.objects.filter(status=Battle.Status.READY).count() == 8
    assert list(Contender.objects.values_list("name", "origin")) == [
        (f"seed-model-000{n}", "seeded") for n in range(1, 5)
    ]
    assert Question.objects.filter(origin="seeded").count() == Question.objects.count() == 6


def test_the_commands_say_when_seeded_rows_are_served(settings) -> None:
    settings.ARENA_SERVE_SEEDED = True
    lines = run("seed_votes", "--votes", "10", "--contenders", "2", "--questions", "2", "--voters", "2")
    assert lines[-1] == (
        "ARENA_SERVE_SEEDED is on: voters are served battles with the seeded contenders and questions"
    )


def test_seeding_twice_is_refused_and_writes_nothing() -> None:
    run("seed_votes", "--votes", "100", "--contenders", "3", "--questions", "5", "--voters", "5")
    snapshots = RatingSnapshot.objects.count()
    with pytest.raises(CommandError) as caught:
        run("seed_votes", "--votes", "100", "--contenders", "3", "--questions", "5", "--voters", "5")
    assert str(caught.value) == (
        "this database already holds seeded contenders or questions (seed-model-..., seed-q-...): seeding "
        "runs once per database; nothing was written"
    )
    assert (Vote.objects.count(), Contender.objects.count(), Question.objects.count()) == (100, 3, 5)
    assert RatingSnapshot.objects.count() == snapshots
