"""Serving battles to anonymous voters: the first half of the hot path (battles/services/voting.py
records their verdicts). A voter and what they hold come back in one query; a new hold is one round
trip (the address's lock, then a claim of the oldest servable battle); the rare cases take the
slower way, under the same lock (battles/services/holds.py).
"""

import contextlib
import random
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from arena import rows
from arena.locks import lock_wait_ran_out, transaction_lock_statement
from battles import selectors
from battles.models import AnswerRead, Battle, Origin, Question, Voter
from battles.services import holds
from battles.services.hot_sql import (
    ANSWER_A,
    ANSWER_B,
    BATTLE,
    BATTLE_COLUMNS,
    BATTLES,
    BATTLES_SHOWN,
    CATEGORY,
    CONTENDERS,
    GENERATING,
    QUESTION,
    QUESTIONS,
    READS,
    READY,
    REVEALED,
    SERVED,
    SHOWN_COLUMNS,
    VOTER,
    shown_from,
    shown_joined,
)
from battles.services.pool import (
    NoBattleCanBeDrawn,
    answers_queue,
    battle_draw,
    battle_pool_refill_request,
)

# A pool refill is asked for at most this often by one process (the refill itself is shared: pool.py).
_REFILL_REQUEST_EVERY_SECONDS = 1.0
_refill_requested_at = [-_REFILL_REQUEST_EVERY_SECONDS]


def _battles_shown(where: str, parameters: list[Any]) -> list[Battle]:
    """Battles with their question, category and answers, built from one query."""
    with connection.cursor() as cursor:
        rows.execute(cursor, f"{BATTLES_SHOWN} WHERE {where}", parameters)
        return _battles_built(cursor.fetchall())


def voter_with_holds(*, voter_id: uuid.UUID) -> tuple[Voter, list[Battle]] | None:
    """The voter and the battles they hold (as battle_serve reads them first), in one query; None if
    there is no such voter."""
    held = f"b.voter_id = v.id AND b.status IN ({SERVED}, {READY}, {GENERATING})"
    with connection.cursor() as cursor:
        rows.execute(
            cursor,
            f"SELECT {VOTER.sql}, {SHOWN_COLUMNS} FROM {Voter._meta.db_table} v "
            f"LEFT JOIN ({shown_joined(BATTLES)}) ON {held} WHERE v.id = %s",
            [rows.parameter(voter_id)],
        )
        found = cursor.fetchall()
    if not found:
        return None
    voter = VOTER.build(found[0])[0]
    return voter, _battles_built(found, offset=len(VOTER))


def _battles_built(found: list[Any], *, offset: int = 0) -> list[Battle]:
    """Battles from rows of SHOWN_COLUMNS (starting at `offset`; a row without a battle is skipped)."""
    battles = []
    for row in found:
        if row[offset] is None:
            continue
        battle, at = BATTLE.build(row, offset)
        question, at = QUESTION.build(row, at)
        category, at = CATEGORY.build(row, at)
        answer_a, at = ANSWER_A.build(row, at)
        answer_b, _ = ANSWER_B.build(row, at)
        question.category = category
        battle.question = question
        battle.answer_a = answer_a
        battle.answer_b = answer_b
        battles.append(battle)
    return battles


def _battle_shown(battle_id: int) -> Battle:
    return _battles_shown("b.id = %s", [battle_id])[0]


def _claim(
    battle_ids: list[int], voter: Voter, *, reserved: bool, rng: random.Random, ip_hash: str
) -> Battle | None:
    """Serve the first of these ready battles that no one else takes first."""
    rng.shuffle(battle_ids)
    for battle_id in battle_ids:
        available = Battle.objects.filter(pk=battle_id, status=Battle.Status.READY)
        available = available.filter(voter=voter) if reserved else available.filter(voter__isnull=True)
        if available.update(
            status=Battle.Status.SERVED, voter=voter, served_at=timezone.now(), holder_ip_hash=ip_hash
        ):
            return _battle_shown(battle_id)
    return None


def _claim_sql(*, unseen: bool) -> str:
    """The UPDATE that serves the oldest servable battle of the shared pool, with parameters
    _claim_parameters gives; more conditions may follow. With `unseen`, on a question this voter has
    neither been served nor read in browse mode; without, on any question, but never with an answer
    whose model the voter saw (revealed after their vote, or read in browse mode). Rows other
    requests are claiming at the same moment are skipped, not waited for: voters arriving together
    each get their own battle at once."""
    seeded = (
        ""
        if settings.ARENA_SERVE_SEEDED
        else (
            f" AND q.origin <> '{Origin.SEEDED}' AND ca.origin <> '{Origin.SEEDED}'"
            f" AND cb.origin <> '{Origin.SEEDED}'"
        )
    )
    # NOT IN: the voter's questions (answers) are read once into a hash, whatever the number of
    # candidates.
    guarded = not settings.ARENA_SERVE_RECOGNISABLE_ANSWERS
    if unseen:
        read = f" UNION ALL SELECT r.question_id FROM {READS} r WHERE r.voter_id = %s" if guarded else ""
        not_seen = (
            f" AND p.question_id NOT IN (SELECT s.question_id FROM {BATTLES} s WHERE s.voter_id = %s"
            f" AND s.served_at IS NOT NULL{read})"
        )
    else:
        not_seen = ""
        if guarded:
            not_seen = f" AND p.answer_a_id NOT IN {REVEALED} AND p.answer_b_id NOT IN {REVEALED}"
    postgresql = connection.vendor == "postgresql"
    return (
        f"UPDATE {BATTLES} SET status = {SERVED}, voter_id = %s, served_at = %s, holder_ip_hash = %s "
        f"WHERE id = (SELECT p.id FROM {BATTLES} p JOIN {QUESTIONS} q ON q.id = p.question_id "
        f"JOIN {CONTENDERS} ca ON ca.id = p.contender_a_id JOIN {CONTENDERS} cb ON cb.id = p.contender_b_id "
        f"WHERE p.status = {READY} AND p.voter_id IS NULL AND q.is_active AND ca.is_active "
        f"AND cb.is_active{seeded}{not_seen} ORDER BY p.created_at LIMIT 1"
        f"{' FOR UPDATE OF p SKIP LOCKED' if postgresql else ''})"
    )


def _claim_parameters(voter: Voter, *, ip_hash: str, unseen: bool) -> list[Any]:
    """The parameters of _claim_sql: voter, served at, address, then the voter for each of its
    subqueries (two with `unseen`, six without; one and none when recognisable answers are served)."""
    voter_id = rows.parameter(voter.pk)
    guarded = not settings.ARENA_SERVE_RECOGNISABLE_ANSWERS
    subqueries = (2 if guarded else 1) if unseen else (6 if guarded else 0)
    return [voter_id, rows.parameter(timezone.now()), ip_hash, *[voter_id] * subqueries]


def _claim_from_pool(voter: Voter, *, ip_hash: str, unseen: bool) -> Battle | None:
    """Serve the oldest servable battle of the shared pool (see _claim_sql), in one statement."""
    postgresql = connection.vendor == "postgresql"
    claim = _claim_sql(unseen=unseen)
    parameters = _claim_parameters(voter, ip_hash=ip_hash, unseen=unseen)
    with connection.cursor() as cursor:
        if postgresql:  # claimed and read in one statement
            rows.execute(
                cursor,
                f"WITH claimed AS ({claim} RETURNING {BATTLE_COLUMNS}) {shown_from('claimed')}",
                parameters,
            )
            claimed = _battles_built(cursor.fetchall())
            return claimed[0] if claimed else None
        rows.execute(cursor, f"{claim} RETURNING id", parameters)
        row = cursor.fetchone()
    return None if row is None else _battle_shown(row[0])


def _hold_at_once(*, voter: Voter, ip_hash: str) -> Battle | None:
    """A new hold in one round trip (PostgreSQL, for an address): under the address's lock (as
    holds.hold_starting takes it), claim the oldest servable battle on a question the voter has not
    seen, provided the address holds fewer than ARENA_HELD_BATTLES_PER_IP battles and no other request
    of this voter started a hold meanwhile. The lock, then the claim with its checks, go as two
    statements of one transaction (each statement sees what committed before it started). None if
    nothing was claimed: battle_serve's other way finds out why. Raises ServeLimited if the
    address's other calls hold the lock too long."""
    lock, lock_parameters = transaction_lock_statement(
        f"battle-holds:{ip_hash}", timeout_seconds=holds.HOLD_LOCK_WAIT_SECONDS
    )
    # Not worth waiting for the disk (see holds.hold_starting).
    first = f"SELECT set_config('synchronous_commit', 'off', true); {lock}"
    claim = (
        f"{_claim_sql(unseen=True)} AND (SELECT COUNT(*) {holds.HELD_AT_ADDRESS}) < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {BATTLES} m WHERE m.voter_id = %s AND m.status = {SERVED})"
    )
    parameters = [
        *_claim_parameters(voter, ip_hash=ip_hash, unseen=True),
        *[ip_hash, settings.ARENA_HELD_BATTLES_PER_IP, rows.parameter(voter.pk)],
    ]
    # Its own transaction; inside another one (a test's), a savepoint keeps a lock wait that ran out
    # from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            rows.execute(
                cursor,
                f"WITH claimed AS ({claim} RETURNING {BATTLE_COLUMNS}) {shown_from('claimed')}",
                parameters,
                first=(first, lock_parameters),
            )
            claimed = _battles_built(cursor.fetchall())
    except OperationalError as error:
        if not lock_wait_ran_out(error):
            raise
        raise holds.address_busy() from None
    return claimed[0] if claimed else None


def battle_serve(
    *, voter: Voter, rng: random.Random | None = None, ip_hash: str = "", held: list[Battle] | None = None
) -> Battle | None:
    """The battle this voter should see, or None while one is being prepared.

    In order: the battle already served and not voted on; a battle drawn for this voter; a ready
    battle from the shared pool on a question the voter has not seen. If the pool has none, a battle
    is drawn for the voter on an unseen question (ready at once when its answers exist). Questions
    repeat only once the voter has seen the whole bank. A pool refill is requested after a new hold.

    Serving from the pool or drawing for the voter starts a new hold, which the limits of
    battles/services/holds.py allow or refuse (ServeLimited, changing nothing); `ip_hash` is the
    voter's address, as ip_hash_of gives it. The battle a voter already holds always comes back.
    `held` is what voter_with_holds read of the voter's battles just now, if it was called.
    """
    rng = rng or random.Random()
    now = timezone.now()
    if held is None:  # everything the voter holds, in one query: served, drawn for them, on its way
        held = _battles_shown(
            f"b.voter_id = %s AND b.status IN ({SERVED}, {READY}, {GENERATING})",
            [rows.parameter(voter.pk)],
        )
    served = sorted(
        (b for b in held if b.status == Battle.Status.SERVED and b.served_at is not None),
        key=lambda b: b.served_at or now,
    )
    if served and holds.hold_kept(battle=served[0], voter=voter, now=now):
        return served[0]
    reserved = [battle.pk for battle in held if battle.status == Battle.Status.READY]
    battle = _claim(reserved, voter, reserved=True, rng=rng, ip_hash=ip_hash) if reserved else None
    if battle is not None:
        return battle
    on_its_way = any(b.status == Battle.Status.GENERATING for b in held)
    if ip_hash and connection.vendor == "postgresql" and not on_its_way:
        # The usual case, in two round trips: the limits in Redis, then the hold. Over a limit, the
        # other way below finds out whether another request of this voter started a hold meanwhile.
        try:
            counted: list[str] | None = holds.hold_windows_take(voter=voter, ip_hash=ip_hash, now=now)
        except holds.ServeLimited:
            counted = None
        if counted is not None:
            try:
                battle = _hold_at_once(voter=voter, ip_hash=ip_hash)
            except BaseException:
                holds.hold_given_back(counted)
                raise
            if battle is not None:
                _pool_refill_soon()
                return battle
            holds.hold_given_back(counted)
    with holds.hold_starting(voter=voter, ip_hash=ip_hash) as state:
        # Another request of this voter (a double click, two tabs) may have started a hold meanwhile.
        if state.served_id is not None:
            return _battle_shown(state.served_id)
        try:
            counted = holds.hold_limits_check(voter=voter, ip_hash=ip_hash, now=now, state=state, take=True)
        except holds.ServeLimited:
            if on_its_way:
                return None  # asking again while it is prepared starts no hold
            raise
        battle, started = _hold_start(voter=voter, ip_hash=ip_hash, rng=rng)
        if not started:
            holds.hold_given_back(counted)
    _pool_refill_soon()
    return battle


def _pool_refill_soon() -> None:
    """Ask for a refill (after the claim, so that it sees the pool without the battle just served)."""
    if time.monotonic() - _refill_requested_at[0] >= _REFILL_REQUEST_EVERY_SECONDS:
        _refill_requested_at[0] = time.monotonic()
        battle_pool_refill_request()


def _battle_on_its_way(voter: Voter) -> bool:
    """Whether a battle drawn for this voter is waiting for its answers."""
    return Battle.objects.filter(voter=voter, status=Battle.Status.GENERATING).exists()


def _hold_start(*, voter: Voter, ip_hash: str, rng: random.Random) -> tuple[Battle | None, bool]:
    """A new battle for the voter, and whether a hold started (a battle drawn for the voter starts
    one while its answers are still on their way)."""
    battle = _claim_from_pool(voter, ip_hash=ip_hash, unseen=True)
    if battle is not None:
        return battle, True
    if _battle_on_its_way(voter):
        return None, False
    seen = Battle.objects.filter(voter=voter, served_at__isnull=False).values("question_id")
    unseen_questions = Question.objects.filter(is_active=True).exclude(id__in=seen)
    if not settings.ARENA_SERVE_RECOGNISABLE_ANSWERS:
        unseen_questions = unseen_questions.exclude(
            id__in=AnswerRead.objects.filter(voter=voter).values("question_id")
        )
    unseen = list(unseen_questions.values_list("id", flat=True))
    if unseen:
        created_answer_ids: set[int] = set()
        try:
            drawn = battle_draw(
                rng=rng,
                question_ids=unseen,
                reserved_for=voter,
                holder_ip_hash=ip_hash,
                created_answer_ids=created_answer_ids,
            )
        except NoBattleCanBeDrawn:
            drawn = None
        answers_queue(answer_ids=list(created_answer_ids))
        if drawn is not None:
            if drawn.status == Battle.Status.READY:
                return _claim([drawn.pk], voter, reserved=True, rng=rng, ip_hash=ip_hash), True
            return None, True
    # The voter has seen every question (or none of the unseen can be drawn): questions repeat, but
    # never an answer whose model the voter saw; drawn for the voter if the pool has no such battle.
    battle = _claim_from_pool(voter, ip_hash=ip_hash, unseen=False)
    if battle is not None:
        return battle, True
    created_answer_ids = set()
    try:
        drawn = battle_draw(
            rng=rng,
            reserved_for=voter,
            holder_ip_hash=ip_hash,
            created_answer_ids=created_answer_ids,
            excluded_answer_ids=(
                set()
                if settings.ARENA_SERVE_RECOGNISABLE_ANSWERS
                else selectors.answers_revealed_to(voter=voter)
            ),
        )
    except NoBattleCanBeDrawn:
        drawn = None
    answers_queue(answer_ids=list(created_answer_ids))
    if drawn is None:
        return None, False
    if drawn.status == Battle.Status.READY:
        return _claim([drawn.pk], voter, reserved=True, rng=rng, ip_hash=ip_hash), True
    return None, True
