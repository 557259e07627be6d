"""Chatbot Arena's battle logs (FastChat's clean_battle_*.json), read as records.

A log is one JSON list of objects with `model_a`, `model_b`, `winner` (model_a, model_b, tie or
"tie (bothbad)") and `tstamp` (seconds since 1970), and optionally `judge`, `anony`, `language`,
`turn`, `question_id` and the two conversations. Logs run to millions of battles, so the reader
streams: it reads the list one object at a time and hands on one record at a time (memory stays flat
whatever the size of the file). Like the bank's parsers it never touches the database: the votes are
written by battles.services.battle_logs.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from battles.models import Contender, Vote

# The log's winners, as our vote outcomes.
WINNERS = {"model_a": Vote.Outcome.A, "model_b": Vote.Outcome.B, "tie": Vote.Outcome.TIE}
WINNERS["tie (bothbad)"] = Vote.Outcome.BOTH_BAD
_READ_CHARS = 1 << 20
_MAX_BATTLE_CHARS = 16 << 20  # one battle, conversations included
_NAME_CHARS = Contender._meta.get_field("name").max_length or 200
_LATEST_TSTAMP = 253402300799  # 9999-12-31 23:59:59 UTC


class BattleLogRejected(Exception):
    """A log that cannot be imported; the message names the battle (its position in the list) and why."""


@dataclass(frozen=True)
class BattleRecord:
    """One battle of a log: `number` is its 1-based position in the list, the names are stripped."""

    number: int
    model_a: str
    model_b: str
    outcome: str
    created_at: datetime
    external_id: str
    language: str


def parse(stream: IO[str], progress: Callable[[int], None] | None = None) -> Iterator[BattleRecord]:
    """The battles of a log, one at a time; a battle that cannot be imported raises BattleLogRejected.
    `progress` is given the size in bytes of each piece of the file read."""
    for number, battle in _battles(stream, progress):
        yield _record_of(number, battle)


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


def _record_of(number: int, battle: Any) -> BattleRecord:
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
    if not isinstance(winner, str) or winner not in WINNERS:
        raise BattleLogRejected(f"battle {number}: winner {winner!r} is not one of {', '.join(WINNERS)}")
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
    return BattleRecord(
        number=number,
        model_a=model_a.strip(),
        model_b=model_b.strip(),
        outcome=WINNERS[winner],
        created_at=datetime.fromtimestamp(float(tstamp), tz=UTC),
        external_id=external[:200],
        language=language[:32] if isinstance(language, str) else "",
    )
