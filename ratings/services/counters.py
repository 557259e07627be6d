"""The pair counters the ratings read: kept as votes arrive, and rebuilt from the votes on demand."""

import numpy as np
from django.db import connection, transaction

from battles.models import Vote
from ratings import algorithms
from ratings.models import ALL_CATEGORIES, PairCount

OUTCOME_CODES: dict[str, int] = {
    Vote.Outcome.A: algorithms.OUTCOME_A,
    Vote.Outcome.B: algorithms.OUTCOME_B,
    Vote.Outcome.TIE: algorithms.OUTCOME_TIE,
    Vote.Outcome.BOTH_BAD: algorithms.OUTCOME_BOTH_BAD,
}
# The same mapping in SQL, for rebuilding from the vote table.
OUTCOME_CODE_SQL = (
    f"CASE outcome WHEN 'a' THEN {algorithms.OUTCOME_A} WHEN 'b' THEN {algorithms.OUTCOME_B} "
    f"WHEN 'tie' THEN {algorithms.OUTCOME_TIE} ELSE {algorithms.OUTCOME_BOTH_BAD} END"
)
_COLUMNS = "category_key, contender_a_id, contender_b_id, outcome, count"
_UPSERT = (
    f"INSERT INTO ratings_paircount ({_COLUMNS}) VALUES {{rows}} "
    "ON CONFLICT (category_key, contender_a_id, contender_b_id, outcome) "
    "DO UPDATE SET count = ratings_paircount.count + EXCLUDED.count"
)


def pair_counts_add(*, votes: list[Vote]) -> None:
    """Count votes in the counters of all categories and of each vote's category.

    Called inside the transaction that stores the votes, so counters and votes never disagree.
    """
    increments: dict[tuple[int, int, int, int], int] = {}
    for vote in votes:
        code = OUTCOME_CODES[vote.outcome]
        keys = [ALL_CATEGORIES] if vote.category_id is None else [ALL_CATEGORIES, vote.category_id]
        for key in keys:
            cell = (key, vote.contender_a_id, vote.contender_b_id, code)
            increments[cell] = increments.get(cell, 0) + 1
    if not increments:
        return
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(increments))
    parameters = [value for cell, count in increments.items() for value in (*cell, count)]
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(rows=rows), parameters)


def pair_counts_rebuild() -> int:
    """Recompute every counter from the vote table; returns the number of votes counted."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Half a million groups aggregate in memory instead of spilling to disk; TRUNCATE is instant.
            cursor.execute("SET LOCAL work_mem = '128MB'")
            cursor.execute("TRUNCATE ratings_paircount")
        else:
            cursor.execute("DELETE FROM ratings_paircount")
        for key_sql, condition in (
            (str(ALL_CATEGORIES), ""),
            ("category_id", "WHERE category_id IS NOT NULL"),
        ):
            cursor.execute(
                f"INSERT INTO ratings_paircount ({_COLUMNS}) "
                f"SELECT {key_sql}, contender_a_id, contender_b_id, {OUTCOME_CODE_SQL}, count(*) "
                f"FROM battles_vote {condition} GROUP BY 1, 2, 3, 4"
            )
        cursor.execute(
            "SELECT coalesce(sum(count), 0) FROM ratings_paircount WHERE category_key = %s", [ALL_CATEGORIES]
        )
        return int(cursor.fetchone()[0])


def pair_counts_load(*, category_key: int = ALL_CATEGORIES) -> tuple[list[int], algorithms.PairCounts]:
    """The counters of one category key as a PairCounts array, with the contender id of each index."""
    cells = list(
        PairCount.objects.filter(category_key=category_key, count__gt=0).values_list(
            "contender_a_id", "contender_b_id", "outcome", "count"
        )
    )
    contender_ids = sorted({cell[0] for cell in cells} | {cell[1] for cell in cells})
    index_of = {contender_id: index for index, contender_id in enumerate(contender_ids)}
    counts = np.zeros((len(contender_ids), len(contender_ids), 4), dtype=np.int64)
    for contender_a, contender_b, outcome, count in cells:
        counts[index_of[contender_a], index_of[contender_b], outcome] = count
    return contender_ids, algorithms.PairCounts(counts=counts)
