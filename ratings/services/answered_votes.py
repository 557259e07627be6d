"""The counted votes with their answers, kept in memory between refreshes: what style control and
decoding variance fit, since neither reduces to the pair counters.

A worker reads every vote once (one binary COPY), then only the votes above the highest id it holds;
each vote's style covariates before standardising (ratings/style_features.py's normalised differences) are
computed once, when it is read. Before each use the votes held are checked against the pair counters
read in the same transaction: a vote left out or restored, or one committed late with a lower id,
makes them differ, and everything is read again. So the votes used are always exactly those the
counters count.
"""

import logging
import threading
from dataclasses import dataclass

import numpy as np

from ratings import algorithms
from ratings.selectors_vote_table import answer_style_rows, answered_votes_after
from ratings.style_features import STYLE_FEATURE_NAMES, normalised_differences

logger = logging.getLogger(__name__)

STYLE_FEATURES = STYLE_FEATURE_NAMES  # length, headers, lists, bold: the Answer fields style_*


@dataclass(frozen=True)
class AnsweredVotes:
    """Votes of one board, contenders as indices into the board's contender list."""

    side_a: np.ndarray
    side_b: np.ndarray
    outcome: np.ndarray
    answer_a: np.ndarray  # answer ids, 0 where the vote has no battle
    answer_b: np.ndarray
    differences: np.ndarray  # (votes, 4) normalised style differences, NaN where a feature is unknown
    group_a: np.ndarray  # an id of (question, contender) of answer A; -1 where unknown
    group_b: np.ndarray

    def __len__(self) -> int:
        return len(self.side_a)

    styled: np.ndarray  # the votes whose two answers' style features are known
    # Whether some (question, contender) has two answers or more among those the votes held show:
    # without that there is no decoding variance to measure.
    several_samples: bool = False


class _Held:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.columns: dict[str, np.ndarray] = {}
        self.max_id = 0
        # The answers the votes show: their style features (NaN unknown) and the (question,
        # contender) group each belongs to as a dense number, at the position `position[answer id]`.
        self.answer_ids = np.zeros(0, dtype=np.int64)
        self.answer_features = np.zeros((0, len(STYLE_FEATURES)))
        self.answer_keys = np.zeros((0, 2), dtype=np.int64)
        self.answer_groups = np.zeros(0, dtype=np.int64)
        self.position = np.full(1, -1, dtype=np.int64)

    def read_new(self) -> None:
        new = answered_votes_after(self.max_id)
        if not len(new["vote_id"]):
            return
        ids = np.unique(np.concatenate([new["answer_a"], new["answer_b"]]))
        unknown = np.setdiff1d(ids[ids > 0], self.answer_ids, assume_unique=True)
        if len(unknown):
            self._answers_read(unknown.tolist())
        new["differences"] = self._differences(new["answer_a"], new["answer_b"])
        new["styled"] = ~np.isnan(new["differences"]).any(axis=1)
        self.columns = (
            new
            if not self.columns
            else {name: np.concatenate([self.columns[name], new[name]]) for name in new}
        )
        self.max_id = int(self.columns["vote_id"][-1])

    def _answers_read(self, answer_ids: list[int]) -> None:
        rows = answer_style_rows(answer_ids)
        if not rows:
            return
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        keys = np.array([(row[1], row[2]) for row in rows], dtype=np.int64)
        features = np.array(
            [[np.nan if value is None else float(value) for value in row[3:]] for row in rows]
        ).reshape(-1, len(STYLE_FEATURES))
        keep = ~np.isin(self.answer_ids, ids)  # answers read again replace their old row
        self.answer_ids = np.concatenate([self.answer_ids[keep], ids])
        self.answer_keys = np.concatenate([self.answer_keys[keep], keys])
        self.answer_features = np.concatenate([self.answer_features[keep], features])
        _, groups = np.unique(self.answer_keys, axis=0, return_inverse=True)
        self.answer_groups = groups.reshape(-1)
        self.position = np.full(int(self.answer_ids.max()) + 1, -1, dtype=np.int64)
        self.position[self.answer_ids] = np.arange(len(self.answer_ids))

    def positions(self, answer_ids: np.ndarray) -> np.ndarray:
        """Each answer's row in the answer arrays; -1 for an answer not read (or no answer: 0)."""
        inside = answer_ids < len(self.position)
        return np.where(inside, self.position[np.where(inside, answer_ids, 0)], -1)

    def _differences(self, answer_a: np.ndarray, answer_b: np.ndarray) -> np.ndarray:
        """The votes' normalised style differences; NaN where either answer's features are unknown."""
        rows_a, rows_b = self.positions(answer_a), self.positions(answer_b)
        unknown = np.full((1, len(STYLE_FEATURES)), np.nan)
        features = np.concatenate([self.answer_features, unknown])  # row -1: unknown
        features_a, features_b = features[rows_a], features[rows_b]
        known = ~(np.isnan(features_a).any(axis=1) | np.isnan(features_b).any(axis=1))
        differences = np.full(features_a.shape, np.nan)
        if known.any():
            differences[known] = normalised_differences(features_a[known], features_b[known])
        return differences

    def features_refresh(self) -> None:
        """Read again the answers whose features were not known yet (their text arrived later), and
        then the votes' differences."""
        missing = self.answer_ids[np.isnan(self.answer_features).any(axis=1)]
        if not len(missing):
            return
        before = np.isnan(self.answer_features).sum()
        self._answers_read(missing.tolist())
        if np.isnan(self.answer_features).sum() < before and self.columns:
            self.columns["differences"] = self._differences(
                self.columns["answer_a"], self.columns["answer_b"]
            )
            self.columns["styled"] = ~np.isnan(self.columns["differences"]).any(axis=1)


_held = _Held()


def answered_votes_forget() -> None:
    """Drop the votes held in this process (tests; the next use reads them all again)."""
    with _held.lock:
        _held.clear()


def _cells(outcome: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
    cell = (positions[0] * n + positions[1]) * algorithms.OUTCOME_COUNT + outcome
    return np.bincount(cell, minlength=n * n * algorithms.OUTCOME_COUNT).reshape(
        n, n, algorithms.OUTCOME_COUNT
    )


def _board_rows(
    held: _Held, category_key: int, contender_ids: list[int]
) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """This board's votes and their contenders' indices; None if a vote's contender is not listed."""
    columns = held.columns
    if not columns:
        return {}, np.zeros((2, 0), dtype=np.int64)
    board = (
        columns  # every vote: no copy
        if category_key == 0
        else {name: values[columns["category_key"] == category_key] for name, values in columns.items()}
    )
    highest = max(max(contender_ids, default=0), int(columns["side_a"].max()), int(columns["side_b"].max()))
    lookup = np.full(highest + 1, -1, dtype=np.int64)
    lookup[np.asarray(contender_ids, dtype=np.int64)] = np.arange(len(contender_ids))
    positions = np.stack([lookup[board["side_a"]], lookup[board["side_b"]]])
    if (positions < 0).any():
        return None
    return board, positions


def answered_votes(
    *,
    category_key: int,
    contender_ids: list[int],
    counts: algorithms.PairCounts,
    with_groups: bool = True,
) -> AnsweredVotes | None:
    """The board's counted votes with their answers, exactly the votes `counts` counts (read in the
    same transaction); None if they cannot be made to agree (they are then read again next time).
    Without `with_groups`, the answers' groups are left out (all -1): only decoding variance needs
    them."""
    n = len(contender_ids)
    with _held.lock:
        for attempt in range(2):
            if attempt:
                logger.info("answered votes differ from the pair counters: reading every vote again")
                _held.clear()
            _held.read_new()
            if _held.columns and not (_held.columns["answer_a"] > 0).any():
                return None  # imported logs only: no answers to fit (nothing to check them against either)
            _held.features_refresh()
            found = _board_rows(_held, category_key, contender_ids)
            if found is None:
                continue
            board, positions = found
            if not board and not counts.total:
                break
            if board and np.array_equal(_cells(board["outcome"], positions, n), counts.counts):
                break
        else:
            _held.clear()
            return None
        if not board:
            empty = np.zeros(0, dtype=np.int64)
            return AnsweredVotes(
                side_a=empty,
                side_b=empty,
                outcome=empty,
                answer_a=empty,
                answer_b=empty,
                differences=np.zeros((0, len(STYLE_FEATURES))),
                styled=np.zeros(0, dtype=bool),
                group_a=empty,
                group_b=empty,
            )
        groups = np.concatenate([_held.answer_groups, [-1]])  # row -1: unknown
        unknown = np.full(len(board["answer_a"]), -1, dtype=np.int64)
        return AnsweredVotes(
            side_a=positions[0],
            side_b=positions[1],
            outcome=board["outcome"],
            answer_a=board["answer_a"],
            answer_b=board["answer_b"],
            differences=board["differences"],
            styled=board["styled"],
            several_samples=bool(len(_held.answer_groups))
            and int(np.bincount(_held.answer_groups).max()) > 1,
            group_a=groups[_held.positions(board["answer_a"])] if with_groups else unknown,
            group_b=groups[_held.positions(board["answer_b"])] if with_groups else unknown,
        )
