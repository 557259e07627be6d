"""Raw SQL on battles' vote table: every such read the ratings make, in this one module.

Everywhere else the ratings read battles' tables through selectors and the ORM (battles/selectors.py,
ratings/selectors.py). The reads here stream up to every vote there is, and speed is why they are SQL:
- a rebuild (`votes_copied`) reads every vote as four integers with one binary COPY parsed by numpy,
  about twenty times faster than fetching rows through Python;
- online Elo (`vote_rows_after`) and the exports (`vote_export_rows`) read plain tuples from a
  server-side cursor in batches: memory stays flat and no model instance is built per row.
Nothing here writes.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection

from arena.db.copy import binary_copy, int_columns
from arena.db.paging import page_end
from ratings import algorithms

# A vote's outcome as ratings.algorithms' outcome code.
OUTCOME_CODE_SQL = (
    f"CASE outcome WHEN 'a' THEN {algorithms.OUTCOME_A} WHEN 'b' THEN {algorithms.OUTCOME_B} "
    f"WHEN 'tie' THEN {algorithms.OUTCOME_TIE} ELSE {algorithms.OUTCOME_BOTH_BAD} END"
)

# The votes the ratings count: those not left out (battles/services/exclusions.py).
COUNTED = "excluded_reasons = ''"

# (contender A, contender B, outcome code, category id or 0, vote id, cast at)
VoteRow = tuple[int, int, int, int, int, datetime]


def vote_rows_after(watermark: tuple[datetime, int] | None, *, batch_rows: int) -> Iterator[list[VoteRow]]:
    """The counted votes cast after the watermark (cast at, id), or all of them, oldest first, in
    batches."""
    sql = (
        f"SELECT contender_a_id, contender_b_id, {OUTCOME_CODE_SQL}, coalesce(category_id, 0), id, "
        "created_at FROM battles_vote {where} ORDER BY created_at, id"
    )
    parameters: list[datetime | int] = []
    where = f"WHERE {COUNTED}"
    if watermark is not None:
        where += " AND (created_at > %s OR (created_at = %s AND id > %s))"
        parameters = [watermark[0], watermark[0], watermark[1]]
    # A server-side cursor on PostgreSQL: the rows arrive in batches, never all at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql.format(where=where), parameters)
        while rows := cursor.fetchmany(batch_rows):
            yield rows


@dataclass(frozen=True)
class CopiedVotes:
    """Every vote, oldest first: fields side_a, side_b, outcome (code) and category_key (id or 0)."""

    rows: np.ndarray
    last: tuple[datetime, int] | None  # the newest vote's (cast at, id)
    max_id: int  # 0 without votes


def votes_copied() -> CopiedVotes:
    """Every counted vote in time order with one binary COPY (PostgreSQL only)."""
    rows = binary_copy(
        f"SELECT contender_a_id::int4, contender_b_id::int4, ({OUTCOME_CODE_SQL})::int4, "
        f"coalesce(category_id, 0)::int4 FROM battles_vote WHERE {COUNTED} ORDER BY created_at, id",
        [(name, ">i4") for name in ("side_a", "side_b", "outcome", "category_key")],
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT created_at, id FROM battles_vote WHERE {COUNTED} "
            "ORDER BY created_at DESC, id DESC LIMIT 1"
        )
        last = cursor.fetchone()
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM battles_vote WHERE {COUNTED}")
        max_id = int(cursor.fetchone()[0])
    return CopiedVotes(rows=rows, last=(last[0], int(last[1])) if last else None, max_id=max_id)


@dataclass(frozen=True)
class VoteFilter:
    """Which votes an export holds: ids above `after_id`, cast in [since, until), of a contender, of a
    category, at most `limit` of them; only those that count unless `with_excluded`."""

    after_id: int = 0
    since: datetime | None = None
    until: datetime | None = None
    contender_id: int | None = None
    category_id: int | None = None
    limit: int | None = None
    with_excluded: bool = False

    def sql(self) -> tuple[str, list[int | datetime]]:
        conditions: list[str] = ["v.id > %s"] + ([] if self.with_excluded else [f"v.{COUNTED}"])
        parameters: list[int | datetime] = [self.after_id]
        if self.since is not None:
            conditions.append("v.created_at >= %s")
            parameters.append(self.since)
        if self.until is not None:
            conditions.append("v.created_at < %s")
            parameters.append(self.until)
        if self.contender_id is not None:
            conditions.append("(v.contender_a_id = %s OR v.contender_b_id = %s)")
            parameters += [self.contender_id, self.contender_id]
        if self.category_id is not None:
            conditions.append("v.category_id = %s")
            parameters.append(self.category_id)
        return " AND ".join(conditions), parameters


def last_id_of_page(selection: VoteFilter) -> tuple[int | None, bool]:
    """With a limit: the id of the page's last vote, and whether more votes follow it."""
    where, parameters = selection.sql()
    return page_end(tables="battles_vote v", where=where, parameters=parameters, limit=selection.limit)


# (id, cast at, contender A, contender B, outcome, category id, language, voter id as text or None,
# external id, the question's language or "")
ExportRow = tuple[int, datetime, int, int, str, int | None, str, str | None, str | None, str]


def vote_export_rows(selection: VoteFilter, *, with_voter: bool, batch_rows: int) -> Iterator[ExportRow]:
    """The selected votes in id order, with their question's language, from a server-side cursor."""
    where, parameters = selection.sql()
    limit = "" if selection.limit is None else f"LIMIT {int(selection.limit)}"
    columns = (
        "v.id, v.created_at, v.contender_a_id, v.contender_b_id, v.outcome, v.category_id, v.language, "
        + ("CAST(v.voter_id AS TEXT)" if with_voter else "NULL")  # as text: no UUID object per row
    )
    tables = (
        "battles_vote v LEFT JOIN battles_battle b ON b.id = v.battle_id "
        "LEFT JOIN battles_question q ON q.id = b.question_id"
    )
    sql = (
        f"SELECT {columns}, v.external_id, coalesce(q.language, '') FROM {tables} "
        f"WHERE {where} ORDER BY v.id {limit}"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, parameters)
        while batch := cursor.fetchmany(batch_rows):
            yield from batch


# Per counted vote, for style control and decoding variance: (vote id, contender A, contender B,
# outcome code, category id or 0, answer A id or 0, answer B id or 0); answers are 0 for a vote without
# a battle (an imported log).
_ANSWERED_COLUMNS = ("vote_id", "side_a", "side_b", "outcome", "category_key", "answer_a", "answer_b")
_ANSWERED_SQL = (
    "SELECT v.id::int8, v.contender_a_id::int4, v.contender_b_id::int4, ({outcome})::int4, "
    "coalesce(v.category_id, 0)::int4, coalesce(b.answer_a_id, 0)::int4, coalesce(b.answer_b_id, 0)::int4 "
    "FROM battles_vote v LEFT JOIN battles_battle b ON b.id = v.battle_id "
    "WHERE v.{counted} AND v.id > {after} ORDER BY v.id"
)


def answered_votes_after(after_id: int) -> dict[str, np.ndarray]:
    """The counted votes with ids above `after_id`, in id order, with their battle's two answers: one
    binary COPY on PostgreSQL (1.7 million votes in about a second), plain rows elsewhere. Columns as
    int64 arrays, keyed by the names in _ANSWERED_COLUMNS."""
    sql = _ANSWERED_SQL.format(
        outcome=OUTCOME_CODE_SQL.replace("outcome", "v.outcome"), counted=COUNTED, after=int(after_id)
    )
    return int_columns(sql, _ANSWERED_COLUMNS, wide={"vote_id"})


# (answer id, question id, contender id, length, headers, list items, bold spans); features may be None.
AnswerStyleRow = tuple[int, int, int, int | None, int | None, int | None, int | None]


def answer_style_rows(answer_ids: list[int]) -> list[AnswerStyleRow]:
    """These answers' question, contender and style features."""
    rows: list[AnswerStyleRow] = []
    size = 50_000 if connection.vendor == "postgresql" else 500  # SQLite caps a query's parameters
    with connection.cursor() as cursor:
        for start in range(0, len(answer_ids), size):
            batch = answer_ids[start : start + size]
            cursor.execute(
                "SELECT id, question_id, contender_id, style_length, style_headers, style_lists, style_bold "
                f"FROM battles_answer WHERE id IN ({', '.join(['%s'] * len(batch))})",
                batch,
            )
            rows.extend(cursor.fetchall())
    return rows
