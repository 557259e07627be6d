"""Chatbot Arena's battle logs (FastChat's clean_battle_*.json): the export of our votes.

The export writes as it reads, so memory stays flat at millions of votes; what it writes imports back
(battles.importers.battle_log reads it, battles.services.battle_logs stores it).
"""

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from django.db.models import F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.crypto import salted_hmac

from battles.importers.battle_log import WINNERS
from battles.models import Vote

_WINNER_OF_OUTCOME: dict[str, str] = {outcome: winner for winner, outcome in WINNERS.items()}


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
    """Write every vote that counts as a battle log in time order; FastChat's analysis reads it as its
    own."""
    rows = (
        Vote.objects.filter(excluded_reasons="")
        .order_by("created_at", "id")
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
