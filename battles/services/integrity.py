"""The integrity sweep: score every vote of the last ARENA_INTEGRITY_LOOKBACK_DAYS with the signals of
battles/integrity.py and leave out, without telling the voter, those scoring ARENA_INTEGRITY_THRESHOLD
or more. Each sweep scores the whole window again, so a ring found later is left out retroactively and
a vote whose signals no longer hold counts again; every change recounts the boards.

It fails open: a signal that raises excludes nothing new (the votes it flagged before keep that flag
until it works again), is logged, counted for the metrics and shown to staff; the votes themselves are
never held up by the sweep, which runs beside the vote path, not in it.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from arena import rows
from arena.locks import one_at_a_time
from battles import integrity
from battles.models import Answer, Battle, IntegritySweep, Vote, Voter
from battles.services.exclusions import SIGNAL_REASONS, codes_of
from ratings import algorithms
from ratings.models import ALL_CATEGORIES, PairCount
from ratings.selectors import ratings_recount_pending
from ratings.selectors_vote_table import COUNTED, OUTCOME_CODE_SQL
from ratings.services import ratings_recount_request

logger = logging.getLogger(__name__)

_VOTES = Vote._meta.db_table
_BATTLES = Battle._meta.db_table
_ANSWERS = Answer._meta.db_table
_VOTERS = Voter._meta.db_table


@dataclass
class SweepResult:
    votes_scored: int = 0
    votes_flagged: int = 0
    votes_excluded: int = 0
    votes_changed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    duration_ms: int = 0


@dataclass
class _Loaded:  # the votes scored, and what is stored of them
    ids: np.ndarray
    votes: integrity.VoteSet
    signals: list[str]  # as stored
    reasons: list[str]
    restored: np.ndarray
    before: list[tuple[int, int, int, int]]  # (A, B, outcome, votes) counted, cast before the window


def _seconds(column: str) -> str:
    """A time column as seconds since 1970 (PostgreSQL; SQLite, in the embedded mode)."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _votes_loaded(since: datetime) -> _Loaded | None:
    """The votes cast by voters since `since`, with what the signals need, in one query."""
    # Voters and addresses as dense numbers, counted in the database (-1: no address).
    sql = (
        "SELECT v.id, dense_rank() OVER (ORDER BY v.voter_id) - 1, "
        "CASE WHEN v.ip_hash = '' THEN -1 ELSE dense_rank() OVER (ORDER BY NULLIF(v.ip_hash, '')) - 1 END, "
        f"v.contender_a_id, v.contender_b_id, {OUTCOME_CODE_SQL}, "
        f"{_seconds('v.created_at')}, v.decision_ms, "
        "COALESCE(length(aa.text), 0) + COALESCE(length(ab.text), 0), COALESCE(b.question_id, 0), "
        f"{_seconds('w.created_at')}, v.signals, v.excluded_reasons, v.restored_at IS NOT NULL "
        f"FROM {_VOTES} v JOIN {_VOTERS} w ON w.id = v.voter_id "
        f"LEFT JOIN {_BATTLES} b ON b.id = v.battle_id "
        f"LEFT JOIN {_ANSWERS} aa ON aa.id = b.answer_a_id LEFT JOIN {_ANSWERS} ab ON ab.id = b.answer_b_id "
        "WHERE v.created_at >= %s ORDER BY v.id"
    )
    with connection.cursor() as cursor:
        rows.execute(cursor, sql, [rows.parameter(since)])
        found = cursor.fetchall()
    if not found:
        return None
    columns = list(zip(*found, strict=True))
    voter = np.array(columns[1], dtype=np.int64)
    address = np.array(columns[2], dtype=np.int64)
    first_seen = np.zeros(int(voter.max()) + 1)
    first_seen[voter] = np.array(columns[10], dtype=np.float64)
    votes = integrity.VoteSet(
        voter=voter,
        address=address,
        contender_a=np.array(columns[3], dtype=np.int64),
        contender_b=np.array(columns[4], dtype=np.int64),
        outcome=np.array(columns[5], dtype=np.int64),
        cast_at=np.array(columns[6], dtype=np.float64),
        decision_ms=np.array([np.nan if d is None else d for d in columns[7]], dtype=np.float64),
        chars=np.array(columns[8], dtype=np.float64),
        question=np.array(columns[9], dtype=np.int64),
        voter_first_seen=first_seen,
        ratings={},
    )
    return _Loaded(
        ids=np.array(columns[0], dtype=np.int64),
        votes=votes,
        signals=list(columns[11]),
        reasons=list(columns[12]),
        restored=np.array(columns[13], dtype=bool),
        before=_counted_before(since, votes, counted=[reasons == "" for reasons in columns[12]]),
    )


def _counted_before(
    since: datetime, window: integrity.VoteSet, *, counted: list[bool]
) -> list[tuple[int, int, int, int]]:
    """(A, B, outcome, votes) of the votes that count, cast before the window: the pair counters less
    the window's votes that count, or, while a recount is pending (the counters still hold votes
    left out or restored since), counted from the vote table."""
    if ratings_recount_pending():
        with connection.cursor() as cursor:
            rows.execute(
                cursor,
                f"SELECT contender_a_id, contender_b_id, {OUTCOME_CODE_SQL}, COUNT(*) FROM {_VOTES} "
                f"WHERE created_at < %s AND {COUNTED} GROUP BY 1, 2, 3",
                [rows.parameter(since)],
            )
            return list(cursor.fetchall())
    cells = Counter(
        {
            (a, b, outcome): count
            for a, b, outcome, count in PairCount.objects.filter(
                category_key=ALL_CATEGORIES, count__gt=0
            ).values_list("contender_a_id", "contender_b_id", "outcome", "count")
        }
    )
    for keep, a, b, outcome in zip(
        counted,
        window.contender_a.tolist(),
        window.contender_b.tolist(),
        window.outcome.tolist(),
        strict=True,
    ):
        if keep:
            cells[(a, b, outcome)] -= 1
    # A vote cast between the two reads is in the counters and not in the window: it counts once.
    return [(a, b, outcome, count) for (a, b, outcome), count in cells.items() if count > 0]


def votes_score(loaded: _Loaded, result: SweepResult) -> tuple[list[str], np.ndarray]:
    """Each vote's signal codes (comma-separated) and score. A signal that raises keeps, on each
    vote, what it found before (recorded in `result.failed`)."""
    count = len(loaded.ids)
    flags: dict[str, np.ndarray] = {}
    for code, signal in integrity.signal_functions(p_value=settings.ARENA_INTEGRITY_P_VALUE).items():
        try:
            found = np.asarray(signal(loaded.votes), dtype=bool)
            if found.shape != (count,):
                raise ValueError(f"{count} votes but {found.shape} flags")
        except Exception as error:  # fail open: this signal excludes nothing new
            logger.exception("integrity signal %s failed; it excludes nothing new until it works", code)
            result.failed[code] = f"{type(error).__name__}: {error}"[:300]
            found = np.array([code in codes_of(stored) for stored in loaded.signals], dtype=bool)
        flags[code] = found
    score = np.zeros(count)
    for code, found in flags.items():
        score += integrity.WEIGHTS[code] * found
    codes = [""] * count
    for i in np.flatnonzero(score > 0).tolist():
        codes[i] = ",".join(code for code in integrity.SIGNALS if flags[code][i])
    return codes, np.round(score, 3)


# The board the tests compare votes with is refitted without the votes a pass leaves out, and the
# votes scored again, at most this many times: a crowd big enough to lift its contender on the board
# would otherwise make its own votes look expected (and the honest ones look odd).
CLEANING_PASSES = 3


def _scored_against_a_clean_board(
    loaded: _Loaded, result: SweepResult
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """votes_score against the board of the votes that count now, then against the board without
    the votes of the voters the previous pass caught (and with the votes it lets back in), until
    nothing changes."""
    counted_now = np.array([reasons == "" for reasons in loaded.reasons], dtype=bool)
    loaded.votes = replace(loaded.votes, ratings=_ratings_of_board(loaded, counted_now))
    previous = counted_now
    for _ in range(CLEANING_PASSES):
        codes, score = votes_score(loaded, result)
        excluded = (score >= settings.ARENA_INTEGRITY_THRESHOLD) & ~loaded.restored
        # The board to score against: without any vote of a voter with a vote left out (a voter
        # caught once is no witness to how the models compare), and with the votes let back in.
        suspects = np.isin(loaded.votes.voter, np.unique(loaded.votes.voter[excluded]))
        kept = (counted_now | (_only_signal_reasons(loaded) & ~excluded)) & ~suspects
        if (previous == kept).all():
            break
        previous = kept
        loaded.votes = replace(loaded.votes, ratings=_ratings_of_board(loaded, kept))
    return codes, score, excluded


def _only_signal_reasons(loaded: _Loaded) -> np.ndarray:
    """Votes left out for signals alone (the sweep may let them back in)."""
    return np.array(
        [
            bool(reasons) and all(code in SIGNAL_REASONS for code in codes_of(reasons))
            for reasons in loaded.reasons
        ],
        dtype=bool,
    )


def _ratings_of_board(loaded: _Loaded, kept: np.ndarray) -> dict[int, float]:
    """The overall board's Bradley-Terry ratings from the votes that count from before the window
    and these votes of the window."""
    votes = loaded.votes
    before = loaded.before
    ids = sorted(
        {row[0] for row in before}
        | {row[1] for row in before}
        | set(votes.contender_a.tolist())
        | set(votes.contender_b.tolist())
    )
    index = {contender_id: i for i, contender_id in enumerate(ids)}
    counts = np.zeros((len(ids), len(ids), algorithms.OUTCOME_COUNT), dtype=np.int64)
    for contender_a, contender_b, outcome, count in before:
        counts[index[contender_a], index[contender_b], outcome] += count
    side_a = np.array([index[c] for c in votes.contender_a.tolist()], dtype=np.int64)
    side_b = np.array([index[c] for c in votes.contender_b.tolist()], dtype=np.int64)
    np.add.at(counts, (side_a[kept], side_b[kept], votes.outcome[kept]), 1)
    fit = algorithms.bradley_terry(algorithms.PairCounts(counts=counts))
    return {contender_id: float(fit.ratings[i]) for contender_id, i in index.items()}


def _reasons_after(stored: str, codes: str, *, excluded: bool, restored: bool) -> str:
    """The vote's exclusion reasons once this sweep applies: its other reasons kept, the signal
    codes when it scores over the threshold (never on a vote staff restored)."""
    kept = [code for code in codes_of(stored) if code not in SIGNAL_REASONS]
    if excluded and not restored:
        kept += [code for code in codes_of(codes) if code not in kept]
    return ",".join(kept)


def integrity_sweep_locked() -> SweepResult | None:
    """integrity_sweep, unless another process is sweeping (None: it was, and its sweep will do)."""
    results: list[SweepResult] = []
    one_at_a_time("integrity-sweep", work=lambda: results.append(integrity_sweep()), pending=lambda: False)
    return results[0] if results else None


def integrity_sweep(*, now: datetime | None = None) -> SweepResult:
    """Score the window's votes and apply the result (see the module docstring)."""
    started = time.monotonic()
    now = now or timezone.now()
    result = SweepResult()
    loaded = _votes_loaded(now - timedelta(days=settings.ARENA_INTEGRITY_LOOKBACK_DAYS))
    if loaded is not None:
        codes, score, excluded = _scored_against_a_clean_board(loaded, result)
        changes = []
        # Only a vote flagged now, or flagged or left out before, can change.
        stored = np.array(
            [
                bool(signals or reasons)
                for signals, reasons in zip(loaded.signals, loaded.reasons, strict=True)
            ]
        )
        for i in np.flatnonzero((score > 0) | stored).tolist():
            reasons = _reasons_after(
                loaded.reasons[i], codes[i], excluded=bool(excluded[i]), restored=bool(loaded.restored[i])
            )
            if codes[i] != loaded.signals[i] or reasons != loaded.reasons[i]:
                changes.append((int(loaded.ids[i]), codes[i], float(score[i]), loaded.reasons[i], reasons))
        result.votes_scored = len(loaded.ids)
        result.votes_flagged = int((score > 0).sum())
        result.votes_excluded = int((excluded & ~loaded.restored).sum())
        result.votes_changed = _changes_written(changes, now=now)
    result.duration_ms = round((time.monotonic() - started) * 1000)
    _sweep_recorded(result, now=now)
    return result


def _changes_written(changes: list[tuple[int, str, float, str, str]], *, now: datetime) -> int:
    """Write the new signals, scores and reasons; a vote whose reasons changed meanwhile (staff) is
    left for the next sweep. Asks for a recount when any vote's reasons changed."""
    if not changes:
        return 0
    if connection.vendor != "postgresql":
        return _changes_written_one_by_one(changes, now=now)
    written = recount = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(changes), 2000):
            batch = changes[start : start + 2000]
            values = ", ".join(
                ["(%s::bigint, %s::text, %s::double precision, %s::text, %s::text)"] * len(batch)
            )
            parameters = [value for change in batch for value in change]
            rows.execute(
                cursor,
                f"UPDATE {_VOTES} v SET signals = d.codes, suspicion = d.score, "
                "excluded_reasons = d.reasons, "
                "excluded_at = CASE WHEN d.reasons = '' THEN NULL ELSE COALESCE(v.excluded_at, %s) END "
                f"FROM (VALUES {values}) AS d(id, codes, score, old, reasons) "
                "WHERE v.id = d.id AND v.excluded_reasons = d.old RETURNING d.old <> d.reasons",
                [rows.parameter(now), *parameters],
            )
            changed = [row[0] for row in cursor.fetchall()]
            written += len(changed)
            recount += sum(changed)
        if recount:
            ratings_recount_request()
    return written


def _changes_written_one_by_one(changes: list[tuple[int, str, float, str, str]], *, now: datetime) -> int:
    """_changes_written a vote at a time (SQLite, in the embedded mode)."""
    written = recount = 0
    with transaction.atomic():
        for vote_id, codes, score, old, reasons in changes:
            excluded_at = (
                None if not reasons else Coalesce(F("excluded_at"), Value(now, output_field=DateTimeField()))
            )
            if Vote.objects.filter(pk=vote_id, excluded_reasons=old).update(
                signals=codes, suspicion=score, excluded_reasons=reasons, excluded_at=excluded_at
            ):
                written += 1
                recount += old != reasons
        if recount:
            ratings_recount_request()
    return written


def _sweep_recorded(result: SweepResult, *, now: datetime) -> None:
    state, _ = IntegritySweep.objects.get_or_create(pk=1)
    totals = dict(state.failures_total)
    for code in result.failed:
        totals[code] = totals.get(code, 0) + 1
    state.swept_at = now
    state.duration_ms = result.duration_ms
    state.votes_scored = result.votes_scored
    state.votes_flagged = result.votes_flagged
    state.votes_excluded = result.votes_excluded
    state.votes_changed = result.votes_changed
    state.failed_signals = result.failed
    state.failures_total = totals
    state.save()
    share = excluded_share_last_hour(now=now)
    if share.is_alarming:
        logger.warning(
            "%.0f%% of the last hour's %d votes are left out (alert above %.0f%%)",
            share.share * 100,
            share.votes,
            settings.ARENA_ALERT_EXCLUDED_SHARE * 100,
        )


@dataclass(frozen=True)
class ExcludedShare:
    start: datetime
    votes: int
    excluded: int

    @property
    def share(self) -> float:
        return self.excluded / self.votes if self.votes else 0.0

    @property
    def is_alarming(self) -> bool:
        """Above ARENA_ALERT_EXCLUDED_SHARE, with enough votes to mean something."""
        return self.votes >= ALERT_MIN_VOTES and self.share > settings.ARENA_ALERT_EXCLUDED_SHARE


# Fewer votes in the last hour than this raise no alert: three bad votes of five are no wave.
ALERT_MIN_VOTES = 20


def excluded_share_by_hour(*, now: datetime, hours: int = 48) -> list[ExcludedShare]:
    """The voters' votes cast in each of the last `hours` hours (UTC) and how many are left out,
    oldest first (hours without votes are left out)."""
    since = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    found = (
        Vote.objects.filter(created_at__gte=since, voter__isnull=False)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(votes=Count("id"), excluded=Count("id", filter=~Q(excluded_reasons="")))
        .order_by("hour")
    )
    return [ExcludedShare(row["hour"], row["votes"], row["excluded"]) for row in found]


def excluded_share_last_hour(*, now: datetime) -> ExcludedShare:
    """The voters' votes of the last 60 minutes and how many of them are left out."""
    since = now - timedelta(hours=1)
    counts = Vote.objects.filter(created_at__gte=since, voter__isnull=False).aggregate(
        votes=Count("id"), excluded=Count("id", filter=~Q(excluded_reasons=""))
    )
    return ExcludedShare(since, counts["votes"], counts["excluded"])


def votes_left_out_by_reason() -> dict[str, int]:
    """Every vote left out, counted under each of its reasons (from the partial index)."""
    found: Counter[str] = Counter()
    for reasons in (
        Vote.objects.exclude(excluded_reasons="").values_list("excluded_reasons", flat=True).iterator()
    ):
        found.update(codes_of(reasons))
    return dict(found)
