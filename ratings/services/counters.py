"""The pair counters the ratings read: kept as votes arrive, and rebuilt from the votes on demand."""

import io

import numpy as np
from django.db import connection, transaction

from arena.db.copy import binary_copy
from battles.models import Vote
from ratings import algorithms
from ratings.models import ALL_CATEGORIES, PairCount
from ratings.services.vote_log import OUTCOME_CODES, VoteLog, cell_counts, dense_index, votes_in_time_order

OUTCOMES = 4
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


def pair_counts_counting(votes: str) -> str:
    """SQL counting the rows of `votes` (a WITH query of the statement that stores them, with columns
    contender_a_id, contender_b_id and category_id) in the counters of all categories and of each
    row's category, as pair_counts_add does; the outcome's code is its one parameter. For a
    data-modifying WITH clause (PostgreSQL): votes and counters are then written together."""
    return (
        f"INSERT INTO ratings_paircount ({_COLUMNS}) SELECT keys.category_key, voted.contender_a_id, "
        f"voted.contender_b_id, %s, 1 FROM {votes} voted CROSS JOIN LATERAL "
        f"(VALUES ({ALL_CATEGORIES}), (voted.category_id)) AS keys (category_key) "
        "WHERE keys.category_key IS NOT NULL "
        "ON CONFLICT (category_key, contender_a_id, contender_b_id, outcome) "
        "DO UPDATE SET count = ratings_paircount.count + EXCLUDED.count"
    )


def pair_counts_rebuild() -> int:
    """Recompute every counter from the vote table; returns the number of votes counted."""
    with transaction.atomic():
        pair_counts_lock()
        votes = votes_in_time_order()
        pair_counts_write(votes)
        return len(votes)


def pair_counts_lock() -> None:
    """Empty the counters and hold them until the transaction ends. Votes being cast meanwhile wait
    for the new counters (their own increment lands on top); a read after this sees every vote
    committed before it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE ratings_paircount"
            if connection.vendor == "postgresql"
            else "DELETE FROM ratings_paircount"
        )


def pair_counts_write(votes: VoteLog) -> None:
    """Store the counters of these votes (all of them) into the emptied table: counted by numpy, then
    one binary COPY on PostgreSQL (half a million cells in well under a second)."""
    cells = _cells(votes)
    if connection.vendor != "postgresql":
        PairCount.objects.bulk_create(
            [
                PairCount(category_key=key, contender_a_id=a, contender_b_id=b, outcome=outcome, count=count)
                for key, a, b, outcome, count in zip(*(column.tolist() for column in cells), strict=True)
            ],
            batch_size=5000,
        )
        return
    rows = np.zeros(len(cells[0]), dtype=_COPY_ROW)
    rows["fields"] = 5
    for name, column in zip(_COPY_FIELDS, cells, strict=True):
        rows[f"{name}_length"] = _COPY_ROW[name].itemsize
        rows[name] = column
    data = io.BytesIO(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff")
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY ratings_paircount ({', '.join(_COPY_FIELDS)}) FROM STDIN WITH (FORMAT binary)", data
        )


# The counters' columns in a binary COPY: per row a field count, then a length and a value per field.
_COPY_FIELDS = ("category_key", "contender_a_id", "contender_b_id", "outcome", "count")
_COPY_ROW = np.dtype(
    [("fields", ">i2")]
    + [
        item
        for name, kind in zip(_COPY_FIELDS, (">i4", ">i8", ">i8", ">i2", ">i8"), strict=True)
        for item in ((f"{name}_length", ">i4"), (name, kind))
    ]
)


def _cells(votes: VoteLog) -> tuple[np.ndarray, ...]:
    """(category key, contender A, contender B, outcome, count) columns of every non-empty counter,
    in the order of the table's unique key: all categories first, then each category."""
    side_a = np.frombuffer(votes.side_a, dtype=np.int64)
    side_b = np.frombuffer(votes.side_b, dtype=np.int64)
    outcome = np.frombuffer(votes.outcome, dtype=np.int8).astype(np.int64)
    category_key = np.frombuffer(votes.category_key, dtype=np.int64)
    contenders, positions = dense_index(np.concatenate([side_a, side_b]))
    categories, category_index = dense_index(category_key)
    size = max(len(contenders), 1)
    pair_cells = size * size * OUTCOMES  # a cell per (A, B, outcome) in each category
    pair_key = (positions[: len(side_a)] * size + positions[len(side_a) :]) * OUTCOMES + outcome
    overall, overall_counts = cell_counts(pair_key, pair_cells)
    by_category, by_category_counts = cell_counts(
        category_index * pair_cells + pair_key, pair_cells * len(categories)
    )
    cell_category = categories[by_category // pair_cells]
    in_category = cell_category != ALL_CATEGORIES  # votes without a category count only overall
    keys = np.concatenate([np.full(len(overall), ALL_CATEGORIES), cell_category[in_category]])
    pairs = np.concatenate([overall, (by_category % pair_cells)[in_category]])
    counts = np.concatenate([overall_counts, by_category_counts[in_category]])
    return (
        keys,
        contenders[pairs // OUTCOMES // size],
        contenders[pairs // OUTCOMES % size],
        pairs % OUTCOMES,
        counts,
    )


def pair_counts_load(*, category_key: int = ALL_CATEGORIES) -> tuple[list[int], algorithms.PairCounts]:
    """The counters of one category key as a PairCounts array, with the contender id of each index: one
    binary COPY on PostgreSQL, parsed by numpy (260 contenders' 230,000 counters in about 0.1 s, most of
    it PostgreSQL's own scan; fetched as Python rows and placed one by one, they take 0.25 s)."""
    if connection.vendor == "postgresql":
        side_a, side_b, outcome, count = _counters_copied(category_key)
    else:
        cells = list(
            PairCount.objects.filter(category_key=category_key, count__gt=0).values_list(
                "contender_a_id", "contender_b_id", "outcome", "count"
            )
        )
        side_a, side_b, outcome, count = np.array(cells, dtype=np.int64).reshape(-1, 4).T
    contenders, positions = dense_index(np.concatenate([side_a, side_b]))
    counts = np.zeros((len(contenders), len(contenders), OUTCOMES), dtype=np.int64)
    counts[positions[: len(side_a)], positions[len(side_a) :], outcome] = count
    return contenders.tolist(), algorithms.PairCounts(counts=counts)


def _counters_copied(category_key: int) -> tuple[np.ndarray, ...]:
    fields = {"side_a": ">i8", "side_b": ">i8", "outcome": ">i4", "count": ">i8"}
    rows = binary_copy(
        "SELECT contender_a_id::int8, contender_b_id::int8, outcome::int4, count::int8 "
        "FROM ratings_paircount WHERE category_key = %s AND count > 0",
        list(fields.items()),
        [int(category_key)],
    )
    return tuple(rows[name].astype(np.int64) for name in fields)
