import uuid
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from arena import rows
from arena.rows import Columns
from battles.models import IN_THE_DRAW, AnswerRead, Battle, Category, Contender, Origin, Question, Vote, Voter

_Row = TypeVar("_Row", Contender, Question)


def drawable_rows(queryset: QuerySet[_Row]) -> QuerySet[_Row]:
    """Contenders or questions without those seeded for benchmarks, unless ARENA_SERVE_SEEDED is on."""
    return queryset if settings.ARENA_SERVE_SEEDED else queryset.exclude(origin=Origin.SEEDED)


def contenders_in_the_draw() -> QuerySet[Contender]:
    """The contenders battles are drawn from (IN_THE_DRAW, seeded ones only with ARENA_SERVE_SEEDED),
    paused or not: a pause is a health state, not a choice to keep a contender out."""
    return drawable_rows(Contender.objects.filter(IN_THE_DRAW))


def battle_revealed_for_voter(*, battle_id: int, voter: Voter) -> Battle | None:
    """A battle this voter has voted on, with what the reveal page shows."""
    return (
        Battle.objects.filter(pk=battle_id, voter=voter, status=Battle.Status.VOTED)
        .select_related("question__category", "contender_a", "contender_b", "answer_a", "answer_b", "vote")
        .first()
    )


def battle_served_to_voter(*, battle_id: int, voter: Voter) -> Battle | None:
    return (
        Battle.objects.filter(pk=battle_id, voter=voter, status=Battle.Status.SERVED)
        .select_related("question__category", "answer_a", "answer_b")
        .first()
    )


def voter_vote_count(*, voter: Voter) -> int:
    return Vote.objects.filter(voter=voter).count()


_VOTER = Columns(Voter, "v")


def voter_find(*, voter_id: uuid.UUID) -> Voter | None:
    """The voter, read with one prepared statement: every vote and page view asks."""
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"SELECT {_VOTER.sql} FROM {Voter._meta.db_table} v WHERE v.id = %s",  # noqa: S608
            [rows.parameter(voter_id)],
        )
        row = cursor.fetchone()
    return None if row is None else _VOTER.build(row)[0]


OPEN_STATUSES = [Battle.Status.GENERATING, Battle.Status.READY, Battle.Status.SERVED]


def battles_voted() -> QuerySet[Battle]:
    """Battles that have been voted on, with everything the API shows of them; never an open one, and
    none that shares an answer with an open battle (answers are reused: its answer text next to its
    model's name would unmask the open battle)."""
    answer_in_open_battle = Battle.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(answer_a=OuterRef("answer_a"))
        | Q(answer_b=OuterRef("answer_a"))
        | Q(answer_a=OuterRef("answer_b"))
        | Q(answer_b=OuterRef("answer_b"))
    )
    return (
        Battle.objects.filter(status=Battle.Status.VOTED)
        .exclude(Exists(answer_in_open_battle))
        .select_related("question__category", "contender_a", "contender_b", "answer_a", "answer_b", "vote")
    )


def vote_of_voter(*, battle_id: int, voter: Voter) -> Vote | None:
    return Vote.objects.filter(battle_id=battle_id, voter=voter).first()


def vote_with_names(*, vote_id: int) -> Vote:
    return Vote.objects.select_related("contender_a", "contender_b").get(pk=vote_id)


def pool_counts(*, up_to: int) -> dict[str, int]:
    """Open battles: ready in the shared pool, held for voters (served or drawn for one), waiting
    for answers; each counted up to `up_to` (a pool of a hundred thousand is not read to the end)."""
    from battles.services.pool import SERVABLE

    # Only battles that can be shown count: not those of deactivated or (unless served) seeded rows.
    servable = Battle.objects.filter(SERVABLE).order_by()  # no sort: any `up_to` rows will do
    return {
        "ready": servable.filter(status=Battle.Status.READY, voter__isnull=True)[:up_to].count(),
        "held": servable.filter(status__in=[Battle.Status.READY, Battle.Status.SERVED], voter__isnull=False)[
            :up_to
        ].count(),
        "generating": servable.filter(status=Battle.Status.GENERATING)[:up_to].count(),
    }


def battle_counts_up_to(*, statuses: list[str], up_to: int) -> dict[str, int]:
    """How many battles are in each of these states, each counted up to `up_to`, in one statement
    (each state read from its partial index, and no further than `up_to` rows)."""
    table = Battle._meta.db_table
    parts = ", ".join(
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE status = %s LIMIT %s) AS counted)"  # noqa: S608
        for _ in statuses
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {parts}", [value for status in statuses for value in (status, up_to)])
        row = cursor.fetchone()
    return {status: int(count) for status, count in zip(statuses, row, strict=True)}


def category_by_code(*, code: str) -> Category | None:
    return Category.objects.filter(code=code).first()


def category_codes() -> list[str]:
    """Every category's code, in order."""
    return list(Category.objects.order_by("code").values_list("code", flat=True))


def category_ids() -> list[int]:
    return list(Category.objects.values_list("id", flat=True))


def category_codes_by_id() -> dict[int, str]:
    return dict(Category.objects.values_list("id", "code"))


def contender_names_by_id(*, contender_ids: list[int] | None = None) -> dict[int, str]:
    """The names of these contenders (default: of all), by id."""
    contenders = (
        Contender.objects.all() if contender_ids is None else Contender.objects.filter(pk__in=contender_ids)
    )
    return dict(contenders.values_list("id", "name"))


def contender_find(*, contender_id: int) -> Contender | None:
    return Contender.objects.filter(pk=contender_id).first()


def contender_id_by_name(*, name: str) -> int | None:
    return Contender.objects.filter(name=name).values_list("id", flat=True).first()


def contenders_last_updated_at() -> datetime | None:
    """When any contender was last changed (renamed, say): None without contenders."""
    latest: datetime | None = Contender.objects.aggregate(latest=Max("updated_at"))["latest"]
    return latest


def _votes_of(category: Category | None) -> QuerySet[Vote]:
    return Vote.objects.all() if category is None else Vote.objects.filter(category=category)


def vote_newest_id(*, category: Category | None = None) -> int | None:
    """The largest vote id, among the votes of a category or (None) among all votes; None without votes."""
    newest: int | None = _votes_of(category).aggregate(newest=Max("id"))["newest"]
    return newest


def vote_cast_at(*, vote_id: int) -> datetime | None:
    """When the vote was cast (its created_at); None if there is no such vote."""
    return Vote.objects.filter(id=vote_id).values_list("created_at", flat=True).first()


def votes_first_recorded_at(
    *, category: Category | None = None, after_id: int | None = None
) -> datetime | None:
    """When the first of the votes with an id above `after_id` (default: all of them), of a category or
    (None) of all, was recorded; None without such votes."""
    votes = _votes_of(category)
    if after_id is not None:
        votes = votes.filter(id__gt=after_id)
    first: datetime | None = votes.aggregate(first=Min("recorded_at"))["first"]
    return first


def categories_with_question_counts(categories: QuerySet[Category]) -> QuerySet[Category]:
    """These categories, each with `question_count` and `active_question_count` (a few categories of a
    few hundred questions each: counted in the same query)."""
    return categories.annotate(
        question_count=Count("questions"),
        active_question_count=Count("questions", filter=Q(questions__is_active=True)),
    )


def voters_with_vote_counts(voters: QuerySet[Voter]) -> QuerySet[Voter]:
    """These voters, each with `vote_count`: a correlated count along the votes' voter index, run for
    the rows a page shows only."""
    votes = Vote.objects.filter(voter=OuterRef("pk")).order_by().values("voter").annotate(n=Count("id"))
    return voters.annotate(vote_count=Coalesce(Subquery(votes.values("n")), 0))


def voters_who_voted(voters: QuerySet[Voter], *, voted: bool) -> QuerySet[Voter]:
    """These voters that have voted at least once (or, voted=False, never)."""
    has_voted = Exists(Vote.objects.filter(voter=OuterRef("pk")))
    return voters.filter(has_voted if voted else ~has_voted)


def answers_revealed_to(*, voter: Voter) -> set[int]:
    """The answers whose model this voter saw: in battles they voted on, or read in browse mode."""
    voted = Battle.objects.filter(voter=voter, status=Battle.Status.VOTED).values_list(
        "answer_a_id", "answer_b_id"
    )
    revealed = {answer_id for pair in voted for answer_id in pair}
    revealed.update(AnswerRead.objects.filter(voter=voter).values_list("answer_id", flat=True))
    return revealed
