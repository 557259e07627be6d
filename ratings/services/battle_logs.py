"""Chatbot Arena's battle logs (FastChat's clean_battle_*.json): import and export.

A log is one JSON list of objects with `model_a`, `model_b`, `winner` (model_a, model_b, tie or
"tie (bothbad)") and `tstamp` (seconds since 1970), and optionally `judge`, `anony`, `language`,
`turn`, `question_id` and the two conversations. Logs run to millions of battles, so both ways
stream: the import reads the list one object at a time and writes in batches (memory stays flat
whatever the size of the file), the export writes as it reads.
"""

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.crypto import salted_hmac

from battles.models import Contender, Vote
from ratings.services.refresh import ratings_rebuild

_WINNERS = {"model_a": Vote.Outcome.A, "model_b": Vote.Outcome.B, "tie": Vote.Outcome.TIE}
_WINNERS["tie (bothbad)"] = Vote.Outcome.BOTH_BAD
_WINNER_OF_OUTCOME: dict[str, str] = {outcome: winner for winner, outcome in _WINNERS.items()}
_BATCH = 5000
_READ_CHARS = 1 << 20
_MAX_BATTLE_CHARS = 16 << 20  # one battle, conversations included
_NAME_CHARS = Contender._meta.get_field("name").max_length or 200
_LATEST_TSTAMP = 253402300799  # 9999-12-31 23:59:59 UTC


class BattleLogRejected(Exception):
    """A log that cannot be imported; the message names the battle (its position in the list) and why."""


@dataclass(frozen=True)
class BattleLogImportReport:
    battles_read: int
    votes_created: int
    votes_existing: int
    contenders_created: int


def _battles(stream: IO[str], progress: Callable[[int], None] | None) -> Iterator[tuple[int, Any]]:
    """The objects of a JSON list, one at a time, with their 1-based position; the list is never held
    in memory whole (at most one read of text plus one object)."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0

    def fill() -> bool:
        nonlocal buffer, position
        text = stream.read(_READ_CHARS)
        if not text:
            return False
        if progress:
            progress(len(text.encode()))  # the bar counts the file's bytes
        buffer, position = buffer[position:] + text, 0
        return True

    def peek() -> str | None:
        """The next character that is not white space, without consuming it; None at the end."""
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position].isspace():
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not fill():
                return None

    if peek() == "\ufeff":  # a byte order mark some editors write
        position += 1
    if peek() != "[":
        raise BattleLogRejected("the file is not a JSON list: it must start with [")
    position += 1
    number = 0
    while True:
        character = peek()
        if character == "]":
            position += 1
            if peek() is not None:
                raise BattleLogRejected(f"after the list's ]: unexpected text {buffer[position:][:20]!r}")
            return
        if number:
            if character != ",":
                raise BattleLogRejected(f"after battle {number}: expected , or ] but found {character!r}")
            position += 1
            character = peek()
        if character != "{":
            raise BattleLogRejected(f"battle {number + 1}: expected an object but found {character!r}")
        while True:
            try:
                value, position = decoder.raw_decode(buffer, position)
                break
            except json.JSONDecodeError as error:
                # More text helps only an object cut off by the end of what was read so far, and only
                # up to a size no battle reaches: a broken file is rejected at once, not read whole.
                cut_off = error.pos >= len(buffer) - 8 or error.msg.startswith("Unterminated string")
                if not cut_off or len(buffer) - position > _MAX_BATTLE_CHARS or not fill():
                    raise BattleLogRejected(f"battle {number + 1}: not valid JSON ({error.msg})") from None
        number += 1
        yield number, value


def _vote_of(number: int, battle: Any, contender_id: Callable[[str], int]) -> Vote:
    if not isinstance(battle, dict):
        raise BattleLogRejected(f"battle {number}: not an object")
    model_a, model_b, winner, tstamp = (battle.get(key) for key in ("model_a", "model_b", "winner", "tstamp"))
    if not isinstance(model_a, str) or not model_a.strip():
        raise BattleLogRejected(f"battle {number}: model_a must be a model name")
    if not isinstance(model_b, str) or not model_b.strip():
        raise BattleLogRejected(f"battle {number}: model_b must be a model name")
    for side, name in (("model_a", model_a), ("model_b", model_b)):
        if len(name.strip()) > _NAME_CHARS or "\x00" in name:
            raise BattleLogRejected(
                f"battle {number}: {side} must be a name of at most {_NAME_CHARS} characters"
            )
    if model_a.strip() == model_b.strip():
        raise BattleLogRejected(f"battle {number}: model_a and model_b are both {model_a.strip()!r}")
    if not isinstance(winner, str) or winner not in _WINNERS:
        raise BattleLogRejected(f"battle {number}: winner {winner!r} is not one of {', '.join(_WINNERS)}")
    if (
        isinstance(tstamp, bool)
        or not isinstance(tstamp, int | float)
        or not 0 <= tstamp <= _LATEST_TSTAMP  # also false for NaN
    ):
        raise BattleLogRejected(f"battle {number}: tstamp must be seconds since 1970, not {tstamp!r}")
    question_id = battle.get("question_id")
    external = (
        # Our own exports name battles without a FastChat id "fastchat-sha1:…" or "arena-…": keep those.
        question_id
        if isinstance(question_id, str) and question_id.startswith(("fastchat-sha1:", "arena-"))
        else f"fastchat:{question_id}"
        if isinstance(question_id, str) and question_id
        else "fastchat-sha1:"
        + hashlib.sha1(  # noqa: S324 (an identity, not a secret)
            json.dumps([model_a, model_b, winner, tstamp, battle.get("judge")], sort_keys=True).encode()
        ).hexdigest()
    )
    language = battle.get("language")
    if isinstance(language, str) and "\x00" in language:
        raise BattleLogRejected(f"battle {number}: language holds a NUL character")
    if isinstance(question_id, str) and "\x00" in question_id:
        raise BattleLogRejected(f"battle {number}: question_id holds a NUL character")
    return Vote(
        contender_a_id=contender_id(model_a.strip()),
        contender_b_id=contender_id(model_b.strip()),
        outcome=_WINNERS[winner],
        created_at=datetime.fromtimestamp(float(tstamp), tz=UTC),
        recorded_at=timezone.now(),
        external_id=external[:200],
        language=language[:32] if isinstance(language, str) else "",
    )


def _not_ours(votes: list[Vote]) -> list[Vote]:
    """Leave out battles of this arena's own export ("arena-<vote id>") whose vote is still here: the
    same pair at the same time. Exported and imported again, they would count twice."""
    exported: dict[int, Vote] = {}
    for vote in votes:
        number = (vote.external_id or "").removeprefix("arena-")
        if (
            vote.external_id
            and vote.external_id.startswith("arena-")
            and number.isascii()
            and number.isdigit()
        ):
            exported[int(number)] = vote
    if not exported:
        return votes
    present = Vote.objects.filter(pk__in=exported).values_list(
        "id", "contender_a_id", "contender_b_id", "created_at"
    )
    ours = {
        id(exported[vote_id])
        for vote_id, side_a, side_b, created_at in present
        if (side_a, side_b) == (exported[vote_id].contender_a_id, exported[vote_id].contender_b_id)
        and abs((created_at - exported[vote_id].created_at).total_seconds()) < 0.001
    }
    return [vote for vote in votes if id(vote) not in ours]


def battles_import(
    *, stream: IO[str], progress: Callable[[int], None] | None = None
) -> BattleLogImportReport:
    """Import a battle log in one transaction (a rejected log imports nothing), then rebuild the ratings.

    Models become offline contenders (or join the contender of that name); votes keep their time;
    a battle imported before (same question_id) is skipped.
    """
    contenders = dict(Contender.objects.values_list("name", "id"))
    created_contenders = 0

    def contender_id(name: str) -> int:
        nonlocal created_contenders
        if name not in contenders:
            contender, created = Contender.objects.get_or_create(
                name=name,
                defaults={"kind": Contender.Kind.OFFLINE, "description": "imported from a battle log"},
            )
            contenders[name] = contender.pk
            created_contenders += created
        return contenders[name]

    votes_before = Vote.objects.count()
    read = 0
    with transaction.atomic():
        batch: list[Vote] = []
        for number, battle in _battles(stream, progress):
            batch.append(_vote_of(number, battle, contender_id))
            read = number
            if len(batch) == _BATCH:
                Vote.objects.bulk_create(_not_ours(batch), ignore_conflicts=True)
                batch = []
        Vote.objects.bulk_create(_not_ours(batch), ignore_conflicts=True)
        # In the same transaction: counters and Elo never disagree with the votes, even if this stops.
        created = Vote.objects.count() - votes_before
        ratings_rebuild()
    return BattleLogImportReport(read, created, read - created, created_contenders)


def fastchat_record(
    *,
    vote_id: int,
    model_a: str,
    model_b: str,
    outcome: str,
    created_at: datetime,
    external_id: str | None,
    language: str,
    voter_id: object | None,
) -> dict[str, Any]:
    """One vote as a battle of FastChat's clean_battle log. `judge` is a pseudonym of the voter (FastChat
    groups votes by it, e.g. for its votes-per-user limit), the same in every export of this arena;
    votes imported from a log have no voter here and share "arena_import"."""
    return {
        "question_id": (external_id or "").removeprefix("fastchat:") or f"arena-{vote_id}",
        "model_a": model_a,
        "model_b": model_b,
        "winner": _WINNER_OF_OUTCOME[outcome],
        "judge": judge_pseudonym(voter_id),
        "turn": 1,
        "anony": True,
        "language": language or "",
        "tstamp": created_at.timestamp(),
    }


@functools.lru_cache(maxsize=100_000)
def judge_pseudonym(voter_id: object | None) -> str:
    """A voter's stable pseudonym for battle logs: a keyed hash of the id, never the id itself."""
    if voter_id is None:
        return "arena_import"
    return "arena_user_" + salted_hmac("arena.battle-log-judge", str(voter_id)).hexdigest()[:16]


def battles_export(*, output: IO[str], progress: Callable[[int], None] | None = None) -> int:
    """Write every vote as a battle log in time order; FastChat's analysis reads it as its own."""
    rows = (
        Vote.objects.order_by("created_at", "id")
        .annotate(
            language_written=Coalesce(NullIf(F("language"), Value("")), F("battle__question__language"))
        )
        .values_list(
            "id",
            "contender_a__name",
            "contender_b__name",
            "outcome",
            "created_at",
            "external_id",
            "language_written",
            "voter_id",
        )
    )
    output.write("[")
    written = 0
    for vote_id, model_a, model_b, outcome, created_at, external_id, language, voter_id in rows.iterator(
        chunk_size=10_000
    ):
        record = fastchat_record(
            vote_id=vote_id,
            model_a=model_a,
            model_b=model_b,
            outcome=outcome,
            created_at=created_at,
            external_id=external_id,
            language=language,
            voter_id=voter_id,
        )
        output.write(("\n" if written == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        written += 1
        if progress and written % 10_000 == 0:
            progress(written)
    output.write("\n]\n")
    return written
