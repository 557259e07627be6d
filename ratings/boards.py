"""What a board shows from a snapshot's rows: raw or style-controlled, with or without retired
contenders. Pure Python and numpy on rows already read; no queries.

Ranks are recomputed among the contenders shown (Chatbot Arena's rule, ratings/intervals.py): a retired
contender hidden from the board does not leave a gap in the ranks of those below it. Its votes are
still in the fit, so the ratings themselves do not move.
"""

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np

from ratings.fragility import rank_spread

Row = TypeVar("Row")
BOARDS = ("raw", "style")


def board_rows(
    rows: Sequence[Row],
    *,
    board: str,
    with_retired: bool,
    get: Callable[[Row, str], Any],
    put: Callable[[Row, str, Any], None],
) -> list[Row]:
    """The rows a board shows, best first, with `rank` and `rank_worst` (and the style ones) recomputed
    among them, and `robust_votes` cleared where the contender below on the full board is hidden.

    `rows` are a snapshot's rows in the raw board's order; `get`/`put` read and write a field of a row
    (model instances and value dicts alike)."""
    if board not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {board!r}")
    shown = [row for row in rows if with_retired or not get(row, "retired")]
    if len(shown) < len(rows):
        for upper, lower in pairwise(rows):
            if get(lower, "retired") and not with_retired:
                put(upper, "robust_votes", None)
    if not shown:
        return []
    for prefix, low_name, high_name in (("", "ci_low", "ci_high"), ("style_", "style_low", "style_high")):
        # Contenders without a rating of this kind (no style-controlled one) are not ranked by it.
        rated = [row for row in shown if get(row, low_name) is not None and get(row, high_name) is not None]
        stored = all(get(row, f"{prefix}rank_worst") is not None for row in rated)
        if not rated or (len(shown) == len(rows) and stored):
            continue  # nothing hidden: the ranks the refresh stored
        lows = np.asarray([get(row, low_name) for row in rated], dtype=float)
        highs = np.asarray([get(row, high_name) for row in rated], dtype=float)
        best, worst = rank_spread(lows, highs)
        for row, first, last in zip(rated, best, worst, strict=True):
            put(row, f"{prefix}rank", int(first))
            put(row, f"{prefix}rank_worst", int(last))
    if board == "style" and any(get(row, "style_rating") is not None for row in shown):
        return sorted(
            shown,
            key=lambda row: (
                get(row, "style_rating") is None,
                get(row, "style_rank") or 0,
                -(get(row, "style_rating") or 0.0),
            ),
        )
    return sorted(shown, key=lambda row: (get(row, "rank"), -get(row, "bt_rating")))
