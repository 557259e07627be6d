import uuid

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from arena import rows
from arena.rows import Columns
from battles.models import Battle, Vote, Voter


def battle_revealed_for_voter(*, battle_id: int, voter: Voter) -> Battle | None:
    """A battle this voter has voted on, with what the reveal page shows."""
    return (
        Battle.objects.filter(pk=battle_id, voter=voter, status=Battle.Status.VOTED)
        .select_related("question", "contender_a", "contender_b", "answer_a", "answer_b", "vote")
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


def pool_counts() -> dict[str, int]:
    """Open battles: ready in the shared pool, held for voters (served or drawn for one), waiting
    for answers."""
    from django.db.models import Count

    from battles.services.pool import SERVABLE

    # Only battles that can be shown count: not those of deactivated or (unless served) seeded rows.
    counts: dict[str, int] = Battle.objects.filter(SERVABLE, status__in=OPEN_STATUSES).aggregate(
        ready=Count("id", filter=Q(status=Battle.Status.READY, voter__isnull=True)),
        held=Count(
            "id", filter=Q(status__in=[Battle.Status.READY, Battle.Status.SERVED], voter__isnull=False)
        ),
        generating=Count("id", filter=Q(status=Battle.Status.GENERATING)),
    )
    return counts
