"""Every judged verdict with what the judge board needs: raw SQL, because it is read whole on every
refresh. Nothing here writes.

A verdict is never changed once done, so a process keeps the verdicts it has read and asks only for
those finished since (a binary COPY on PostgreSQL; plain rows elsewhere); the set it holds is checked
against the table's count and sum of ids each time, and read again whole when they differ (verdicts
deleted by staff, a late commit, another database). The voters' outcomes do change (votes arrive on
battles judged before, votes are left out or restored): they are read afresh each time, one row per
voted battle.
"""

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Sum

from arena.db.copy import int_columns

# Column name → SQL, every one an integer (missing style features as -1).
_COLUMNS = {
    "id": "v.id",
    "judge": "v.judge_id",
    "swapped": "CASE v.\"order\" WHEN 'swapped' THEN 1 ELSE 0 END",
    "score": "v.score",
    "battle": "v.battle_id",
    "side_a": "v.contender_a_id",
    "side_b": "v.contender_b_id",
    "category": "coalesce(v.category_id, 0)",
    **{
        f"{side}_{feature}": f"coalesce({side}.style_{feature}, -1)"
        for side in ("a", "b")
        for feature in ("length", "headers", "lists", "bold")
    },
}
_VERDICTS_SQL = (
    "SELECT {columns} FROM judges_verdict v "
    "JOIN battles_answer a ON a.id = v.answer_a_id "
    "JOIN battles_answer b ON b.id = v.answer_b_id "
    "WHERE v.status = 'done'{after}"
)
# The counted human vote of each judged battle: 1 A better, -1 B better, 0 tie or both bad.
_HUMAN_SQL = (
    "SELECT h.battle_id::int4, (CASE h.outcome WHEN 'a' THEN 1 WHEN 'b' THEN -1 ELSE 0 END)::int4 "
    "FROM battles_vote h "
    "WHERE h.excluded_reasons = '' AND h.battle_id IN "
    "(SELECT battle_id FROM judges_verdict WHERE status = 'done')"
)
NO_HUMAN_VOTE = -9
# Verdicts finished this long before the newest one read are asked for again: a transaction that
# committed late is still found.
_OVERLAP = timedelta(minutes=10)


@dataclass
class _Held:
    database: str
    columns: dict[str, np.ndarray]
    count: int
    id_sum: int
    finished_at: datetime | None


_held: _Held | None = None
_held_lock = threading.Lock()


def verdicts_forget() -> None:
    global _held
    with _held_lock:
        _held = None


def _verdict_rows(after: datetime | None) -> dict[str, np.ndarray]:
    """The done verdicts (finished at or after `after`, if given)."""
    columns = ", ".join(f"({sql})::int4" for sql in _COLUMNS.values())
    since = "" if after is None else " AND v.finished_at >= %s"
    return int_columns(
        _VERDICTS_SQL.format(columns=columns, after=since), list(_COLUMNS), [] if after is None else [after]
    )


def _state() -> tuple[int, int, datetime | None]:
    """The done verdicts' count, sum of ids and newest finish (through the ORM: SQLite returns a raw
    query's times as text)."""
    from judges.models import Verdict

    state = Verdict.objects.filter(status=Verdict.Status.DONE).aggregate(
        count=Count("id"), id_sum=Sum("id"), finished_at=Max("finished_at")
    )
    return int(state["count"]), int(state["id_sum"] or 0), state["finished_at"]


def verdicts_judged() -> dict[str, np.ndarray]:
    """Every verdict with a score, in no particular order, with the battle's counted human vote
    (`human`, NO_HUMAN_VOTE where there is none): int64 arrays keyed by column name."""
    global _held
    database = str(connection.settings_dict["NAME"])
    count, id_sum, finished_at = _state()
    with _held_lock:
        held = _held if _held is not None and _held.database == database else None
    if held is None or held.count > count or held.finished_at is None:
        columns = _verdict_rows(None)
    elif (held.count, held.id_sum, held.finished_at) == (count, id_sum, finished_at):
        columns = held.columns
    else:
        # What is read again replaces what was held under the same ids.
        new = _verdict_rows(held.finished_at - _OVERLAP)
        kept = ~np.isin(held.columns["id"], new["id"])
        columns = {name: np.concatenate([held.columns[name][kept], new[name]]) for name in _COLUMNS}
    if len(columns["id"]) != count or int(columns["id"].sum()) != id_sum:
        columns = _verdict_rows(None)  # what was held no longer matches the table: read it all
        count, id_sum = len(columns["id"]), int(columns["id"].sum())
    with _held_lock:
        _held = _Held(database, columns, count, id_sum, finished_at)
    votes = int_columns(_HUMAN_SQL, ["battle", "human"])
    human = np.full(len(columns["id"]), NO_HUMAN_VOTE, dtype=np.int64)
    if len(votes["battle"]):
        order = np.argsort(votes["battle"])
        battles, outcomes = votes["battle"][order], votes["human"][order]
        place = np.minimum(np.searchsorted(battles, columns["battle"]), len(battles) - 1)
        found = battles[place] == columns["battle"]
        human[found] = outcomes[place[found]]
    return {**columns, "human": human}
