"""The verdicts a process holds between refreshes: new ones are read, deleted ones and a changed human
vote are noticed, and what it returns is always what a fresh read of the table gives."""

import numpy as np
import pytest
from django.utils import timezone

from battles.models import Vote
from judges.models import Verdict
from judges.services.judges import judge_save
from judges.verdict_table import NO_HUMAN_VOTE, verdicts_forget, verdicts_judged
from tests.factories import CategoryFactory, ContenderFactory
from tests.judges.test_judge_pages import _battle, _vote, verdicts_done

pytestmark = pytest.mark.django_db


def _sorted(columns: dict[str, np.ndarray]) -> dict[str, list[int]]:
    order = np.argsort(columns["id"])
    return {name: values[order].tolist() for name, values in columns.items()}


def _fresh() -> dict[str, list[int]]:
    verdicts_forget()
    return _sorted(verdicts_judged())


def test_held_verdicts_follow_the_table():
    category = CategoryFactory(code="QA")
    x, y = ContenderFactory(name="Xenon"), ContenderFactory(name="Yttrium")
    judge, _ = judge_save(contender=ContenderFactory(name="Judge", sampling_weight=0))
    first = _battle(x, y, category, 1)
    verdicts_done(judge, first, 2, 1)
    verdicts_forget()
    held = _sorted(verdicts_judged())
    assert held["score"] == [2, 1] and held["human"] == [NO_HUMAN_VOTE] * 2
    assert held["side_a"] == [x.pk, x.pk] and held["swapped"] == [0, 1]

    # A new verdict is read; a vote on the judged battle reaches the human column.
    second = _battle(y, x, category, 2)
    verdicts_done(judge, second, -1, 0)
    _vote(first, Vote.Outcome.B)
    held = _sorted(verdicts_judged())
    assert held == _fresh()
    assert held["score"] == [2, 1, -1, 0] and held["human"] == [-1, -1, NO_HUMAN_VOTE, NO_HUMAN_VOTE]

    # A deleted verdict goes; a verdict not done is never there.
    verdicts_judged()
    Verdict.objects.filter(battle=second, order="swapped").delete()
    Verdict.objects.filter(battle=first, order="swapped").update(
        status=Verdict.Status.UNPARSEABLE, score=None
    )
    held = _sorted(verdicts_judged())
    assert held == _fresh()
    assert held["score"] == [2, -1]

    # A verdict rewritten in place (finished again) replaces the one held.
    Verdict.objects.filter(battle=first, order="shown").update(score=-2, finished_at=timezone.now())
    verdicts_judged()
    assert _sorted(verdicts_judged())["score"] == [-2, -1]


FEATURES = ("length", "headers", "lists", "bold")


def test_the_judge_boards_prior_keeps_a_newcomer_judged_four_times_sane(settings):
    """Four straight wins against a settled pair: without the prior the newcomer sits thousands of
    points out; with it (the default, 200 points) it is ranked first by a sane margin, with an
    interval that has not collapsed to a point."""
    from judges.services.board import board_fit

    rows = []
    for index in range(60):  # old 1 and old 2: 60 battles, both orders, old 1 ahead
        score = 1 if index % 3 else -1
        rows += [(1, 2, score, 0), (1, 2, score, 1)]
    rows += [(3, 2, 2, 0), (3, 2, 2, 1), (3, 1, 2, 0), (3, 1, 2, 1)]  # the newcomer (3) wins all four
    side_a, side_b, score, swapped = (np.array(column) for column in zip(*rows, strict=True))
    count = len(rows)
    columns = {
        "side_a": side_a,
        "side_b": side_b,
        "score": score,
        "swapped": swapped,
        **{
            f"{side}_{name}": np.full(count, -1)
            for side in "ab"
            for name in ("length", "headers", "lists", "bold")
        },
    }
    settings.ARENA_STYLE_CONTROL = False
    settings.ARENA_BOOTSTRAP_ROUNDS = 200
    settings.ARENA_JUDGE_RATING_PRIOR_POINTS = 0
    plain = board_fit(columns, np.ones(count, dtype=bool))
    settings.ARENA_JUDGE_RATING_PRIOR_POINTS = 200
    prior = board_fit(columns, np.ones(count, dtype=bool))
    assert plain is not None and prior is not None
    newcomer = plain.contender_ids.index(3)
    assert plain.result.ratings[newcomer] > 2500
    assert prior.result.ratings[newcomer] < 1600
    assert prior.result.bootstrap_high[newcomer] - prior.result.bootstrap_low[newcomer] > 50
    assert int(prior.result.ranks[newcomer]) == 1


def test_no_verdicts_no_board_and_only_the_newest_snapshots_are_kept():
    from judges.models import JudgeSnapshot
    from judges.services.board import SNAPSHOTS_KEPT, judge_boards_refresh

    assert judge_boards_refresh(force=True) == []  # no judge, no verdict: no (empty) board, no tab
    assert not JudgeSnapshot.objects.exists()
    category = CategoryFactory(code="QA")
    x, y = ContenderFactory(name="Xenon"), ContenderFactory(name="Yttrium")
    judge, _ = judge_save(contender=ContenderFactory(name="Judge", sampling_weight=0))
    verdicts_done(judge, _battle(x, y, category, 1), 2, 1)
    for _ in range(SNAPSHOTS_KEPT + 2):
        assert len(judge_boards_refresh(force=True)) == 2  # all categories, and QA
    assert JudgeSnapshot.objects.filter(category__isnull=True).count() == SNAPSHOTS_KEPT
    assert JudgeSnapshot.objects.filter(category=category).count() == SNAPSHOTS_KEPT
    newest = JudgeSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    assert newest is not None and newest.ratings.count() == 2
