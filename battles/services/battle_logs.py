"""Votes imported from Chatbot Arena's battle logs (read by battles.importers.battle_log).

A log runs to millions of battles: its votes are written in batches as the reader hands them on, all
in one transaction with the rebuild of the ratings they change.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from django.db import transaction
from django.utils import timezone

from battles.importers.battle_log import BattleLogRejected, BattleRecord, parse
from battles.models import Contender, Vote
from battles.services.contenders import ContenderNameTaken, contender_offline_get_or_create
from ratings.services.refresh import ratings_rebuild

_BATCH = 5000


@dataclass(frozen=True)
class BattleLogImportReport:
    battles_read: int
    votes_created: int
    votes_existing: int
    contenders_created: int


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


def votes_import(*, votes: list[Vote]) -> None:
    """Store imported votes; one imported before (the same external id) or exported from this arena and
    still here is skipped. The pair counters and Elo do not see them until ratings_rebuild runs."""
    Vote.objects.bulk_create(_not_ours(votes), ignore_conflicts=True)


def battle_log_import(
    *, stream: IO[str], progress: Callable[[int], None] | None = None
) -> BattleLogImportReport:
    """Import a battle log in one transaction (a rejected log imports nothing), then rebuild the ratings.

    Models become offline contenders, or join the offline contender of that name; the name of an
    endpoint contender rejects the log (ContenderNameTaken), except in battles this arena exported
    itself ("arena-<vote id>"), which go back to the contender they were cast for. Votes keep their
    time; a battle imported before (same question_id) is skipped.
    """
    offline = dict(Contender.objects.filter(kind=Contender.Kind.OFFLINE).values_list("name", "id"))
    any_kind: dict[str, int] = {}  # every contender found for the arena's own battles
    created_contenders = 0

    def contender_id(record: BattleRecord, name: str) -> int:
        nonlocal created_contenders
        own = record.external_id.startswith("arena-")
        if name in offline:
            return offline[name]
        if own and name in any_kind:
            return any_kind[name]
        try:
            contender, created = contender_offline_get_or_create(
                name=name, description="imported from a battle log", endpoint_joins=own
            )
        except ContenderNameTaken as clash:
            reason = clash.reason(imported="its battles")
            raise BattleLogRejected(f"battle {record.number}: {reason}") from None
        created_contenders += created
        any_kind[name] = contender.pk
        if contender.kind == Contender.Kind.OFFLINE:
            offline[name] = contender.pk
        return contender.pk

    def vote_of(record: BattleRecord) -> Vote:
        return Vote(
            contender_a_id=contender_id(record, record.model_a),
            contender_b_id=contender_id(record, record.model_b),
            outcome=record.outcome,
            created_at=record.created_at,
            recorded_at=timezone.now(),
            external_id=record.external_id,
            language=record.language,
        )

    votes_before = Vote.objects.count()
    read = 0
    with transaction.atomic():
        batch: list[Vote] = []
        for record in parse(stream, progress):
            batch.append(vote_of(record))
            read = record.number
            if len(batch) == _BATCH:
                votes_import(votes=batch)
                batch = []
        votes_import(votes=batch)
        # In the same transaction: counters and Elo never disagree with the votes, even if this stops.
        created = Vote.objects.count() - votes_before
        ratings_rebuild()
    return BattleLogImportReport(read, created, read - created, created_contenders)
