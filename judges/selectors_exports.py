"""Verdict exports, streamed: JSON Lines or CSV, each finished verdict of a voted battle with the
battle's counted human vote beside it (what a study of judges against voters needs in one file). A
selector module: it reads, never writes.

Rows come from a server-side cursor in batches and are written as they come, so an export of millions
of verdicts starts at once and holds only one batch in memory.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from battles.models import Battle, Vote
from battles.selectors import category_codes_by_id, contender_names_by_id
from judges.models import Judge, Verdict
from ratings.selectors_exports import spreadsheet_safe

FORMATS = ("jsonl", "csv")
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
COLUMNS = (
    "id",
    "time",
    "judge",
    "battle",
    "order",
    "question",
    "category",
    "contender_a",
    "contender_b",
    "status",
    "label",
    "score",
    "prompt_version",
    "human_outcome",
)
_BATCH = 5000
FINISHED = (Verdict.Status.DONE, Verdict.Status.UNPARSEABLE)


@dataclass(frozen=True)
class VerdictFilter:
    after_id: int = 0
    judge_id: int | None = None
    category_id: int | None = None
    limit: int | None = None

    def verdicts(self) -> QuerySet[Verdict]:
        """The finished verdicts selected (done or unparseable) of voted battles, in id order, before
        the limit. A battle still open for voting is left out: its row would name its models to anyone
        who holds it (a voter knows their battle's id)."""
        rows = Verdict.objects.filter(
            status__in=FINISHED, battle__status=Battle.Status.VOTED, id__gt=self.after_id
        )
        if self.judge_id is not None:
            rows = rows.filter(judge_id=self.judge_id)
        if self.category_id is not None:
            rows = rows.filter(category_id=self.category_id)
        return rows.order_by("id")


def last_id_of_page(selection: VerdictFilter) -> tuple[int | None, bool]:
    """With a limit: the id of the page's last verdict, and whether more verdicts follow it."""
    if selection.limit is None:
        return None, False
    found = list(selection.verdicts().values_list("id", flat=True)[selection.limit - 1 : selection.limit + 1])
    if not found:
        return None, False
    return found[0], len(found) == 2


def verdicts_export(*, selection: VerdictFilter, export_format: str) -> Iterator[str]:
    """The export as text pieces, one batch of verdicts at a time. Scores and sides are the battle's
    (A as the voters saw it), whichever order the judge was shown; human_outcome is the battle's
    counted vote (a, b, tie or both_bad), null when it has none or its vote was left out."""
    names = contender_names_by_id()
    codes = category_codes_by_id()
    judges = {
        judge_id: names[contender_id]
        for judge_id, contender_id in Judge.objects.values_list("id", "contender_id")
    }
    counted_vote = Vote.objects.filter(battle_id=OuterRef("battle_id"), excluded_reasons="").values(
        "outcome"
    )[:1]
    rows = (
        selection.verdicts()
        .annotate(human_outcome=Subquery(counted_vote))
        .values_list(
            "id",
            "finished_at",
            "judge_id",
            "battle_id",
            "order",
            "battle__question_id",
            "category_id",
            "contender_a_id",
            "contender_b_id",
            "status",
            "label",
            "score",
            "prompt__version",
            "human_outcome",
        )
    )
    if selection.limit is not None:
        rows = rows[: selection.limit]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if export_format == "csv":
        writer.writerow(COLUMNS)
    for written, row in enumerate(rows.iterator(chunk_size=_BATCH), start=1):
        verdict_id, finished_at, judge_id, battle_id, order, question_id, category_id, side_a, side_b = row[
            :9
        ]
        status, label, score, prompt_version, human_outcome = row[9:]
        values = (
            verdict_id,
            finished_at.isoformat() if finished_at else None,
            judges[judge_id],
            battle_id,
            order,
            question_id,
            codes.get(category_id) if category_id else None,
            names[side_a],
            names[side_b],
            status,
            label,
            score,
            prompt_version,
            human_outcome,
        )
        if export_format == "csv":
            writer.writerow([spreadsheet_safe(value) for value in values])
        else:
            buffer.write(json.dumps(dict(zip(COLUMNS, values, strict=True)), ensure_ascii=False) + "\n")
        if written % _BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
