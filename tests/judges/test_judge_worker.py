"""End to end: a real Celery worker judges voted battles in both orders against a local judge endpoint
(real HTTP); every stored verdict, the judge board and each agreement figure are checked against
values worked out by hand on this small set."""

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone
from scipy.optimize import minimize

from battles.models import Battle, Vote
from judges.models import JudgeDay, JudgeRating, JudgeSnapshot, Verdict
from judges.services.board import judge_boards_refresh
from judges.services.judges import judge_save
from judges.services.scheduling import verdicts_schedule
from ratings.services.refresh import ratings_refresh
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)
from tests.judges.judge_server import JudgeScript, judge_endpoint
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Answers: X writes long ones, Z middling, Y short (style length counts Latin words).
TEXTS = {
    "X": " ".join(["thorough"] * 30),
    "Y": " ".join(["short"] * 5),
    "Z": " ".join(["middling"] * 15),
}
GARBAGE = "Both answers have merit and I cannot choose."


def _battle(question_number, a, b, contenders, category, outcome):
    voter = VoterFactory()
    question = QuestionFactory(text=f"Question {question_number}?", category=category)
    battle = BattleFactory(
        question=question,
        contender_a=contenders[a],
        contender_b=contenders[b],
        answer_a=AnswerFactory(
            question=question, contender=contenders[a], text=f"{a}{question_number} {TEXTS.get(a, 'judge')}"
        ),
        answer_b=AnswerFactory(
            question=question, contender=contenders[b], text=f"{b}{question_number} {TEXTS.get(b, 'judge')}"
        ),
        status=Battle.Status.VOTED,
        voter=voter,
        served_at=timezone.now(),
    )
    VoteFactory(
        battle=battle,
        voter=voter,
        contender_a=contenders[a],
        contender_b=contenders[b],
        category=category,
        outcome=outcome,
    )
    return battle


def _text(battle, side):
    answer = battle.answer_a if side == "a" else battle.answer_b
    return answer.text


def test_a_worker_judges_both_orders_and_the_board_and_agreement_match_hand_values():
    category = CategoryFactory(code="writing")
    # Offline: the worker draws no battles of its own between them (its start refills the pool).
    contenders = {name: OfflineContenderFactory(name=name) for name in ("X", "Y", "Z")}
    battles = {
        "b1": _battle(1, "X", "Y", contenders, category, Vote.Outcome.A),
        "b2": _battle(2, "Y", "Z", contenders, category, Vote.Outcome.A),
        "b3": _battle(3, "X", "Z", contenders, category, Vote.Outcome.TIE),
        "b4": _battle(4, "Z", "X", contenders, category, Vote.Outcome.B),
        "b6": _battle(6, "Y", "X", contenders, category, Vote.Outcome.BOTH_BAD),
    }

    # Replies by the answers' order in the prompt: (A's text, B's text) is the order as shown,
    # (B's text, A's text) the swapped one.
    def shown(name):
        return (_text(battles[name], "a"), _text(battles[name], "b"))

    def swapped(name):
        return (_text(battles[name], "b"), _text(battles[name], "a"))

    script = JudgeScript(
        replies={
            shown("b1"): ["A is far better. [[A>>B]]"],
            swapped("b1"): ["[[B>A]]"],
            shown("b2"): ["Verdict: [[A>B]]"],
            swapped("b2"): ["[[A>B]] and again [[A>B]]"],  # the same token twice is one verdict
            shown("b3"): ["[[A=B]]"],
            swapped("b3"): ["[[B>>A]]"],
            shown("b4"): ["[[B>A]]"],
            swapped("b4"): ["[[A>B]]"],
            shown("b6"): [GARBAGE, "Second thoughts: [[A>B]]"],  # unparseable, asked again, parsed
            swapped("b6"): [GARBAGE, "[[A>B]] or maybe [[B>A]]"],  # unparseable twice: recorded so
        }
    )
    with judge_endpoint(script) as url:
        judge_contender = ContenderFactory(
            name="J", base_url=url, model_id="judge-model", stream=False, sampling_weight=0
        )
        # A battle the judge takes part in: never judged by it.
        _battle(5, "X", "J", {**contenders, "J": judge_contender}, category, Vote.Outcome.A)
        judge, _ = judge_save(contender=judge_contender, daily_call_budget=100)
        ratings_refresh(force=True)
        ratings_refresh(category=category, force=True)
        with worker_process(queues="celery,generation", concurrency=4) as worker:
            report = verdicts_schedule()
            assert report.created == {judge.pk: 10}
            try:
                wait_until(
                    lambda: not Verdict.objects.filter(status__in=["pending", "running"]).exists(),
                    timeout_seconds=60,
                )
            except AssertionError:
                states = list(Verdict.objects.values_list("status", "attempts", "retry_at", "error"))
                log = "".join(line for line in worker.lines if "judge" in line or "rror" in line)
                raise AssertionError(f"verdicts still waiting: {states}\n{log[-6000:]}") from None
    stored = {
        (verdict.battle_id, verdict.order): (verdict.status, verdict.score, verdict.label, verdict.attempts)
        for verdict in Verdict.objects.all()
    }
    b = {name: battle.pk for name, battle in battles.items()}
    assert stored == {
        (b["b1"], "shown"): ("done", 2, "A>>B", 1),
        (b["b1"], "swapped"): ("done", 1, "B>A", 1),
        (b["b2"], "shown"): ("done", 1, "A>B", 1),
        (b["b2"], "swapped"): ("done", -1, "A>B", 1),
        (b["b3"], "shown"): ("done", 0, "A=B", 1),
        (b["b3"], "swapped"): ("done", 2, "B>>A", 1),
        (b["b4"], "shown"): ("done", -1, "B>A", 1),
        (b["b4"], "swapped"): ("done", -1, "A>B", 1),
        (b["b6"], "shown"): ("done", 1, "A>B", 2),
        (b["b6"], "swapped"): ("unparseable", None, "", 2),
    }
    unparseable = Verdict.objects.get(battle_id=b["b6"], order="swapped")
    assert unparseable.reply == "[[A>B]] or maybe [[B>A]]" and unparseable.unparseable_replies == 2
    assert set(Verdict.objects.values_list("prompt__language", "prompt__version")) == {("en", 1)}
    assert JudgeDay.objects.get(judge=judge).calls == 12  # 8 + b6: 2 and 2
    # Every prompt the judge was sent holds the question and both answers in the order of its verdict.
    assert len(script.prompts) == 12

    judge_boards_refresh(force=True)
    snapshot = JudgeSnapshot.objects.get(category__isnull=True)
    assert snapshot.verdict_count == 9
    rows = {
        row.contender.name: row
        for row in JudgeRating.objects.filter(snapshot=snapshot).select_related("contender")
    }
    # Games, a strong win counting 3: X beat Y 3+1 (b1) and lost 1 (b6); Y and Z won one each (b2);
    # X beat Z 3 (b3 swapped) + 1 + 1 (b4) and tied 1 (b3 shown).
    assert {name: (row.wins, row.losses, row.ties, row.verdicts) for name, row in rows.items()} == {
        "X": (9, 1, 1, 7),
        "Y": (2, 5, 0, 5),
        "Z": (1, 6, 1, 6),
    }
    expected = _independent_fit(
        games=[("X", "Y", 4, 1, 0), ("Y", "Z", 1, 1, 0), ("X", "Z", 5, 0, 1)], names=["X", "Y", "Z"]
    )
    for name, rating in expected.items():
        assert rows[name].rating == pytest.approx(rating, abs=1e-4)
    assert [row.contender.name for row in sorted(rows.values(), key=lambda row: -row.rating)] == [
        "X",
        "Y",
        "Z",
    ]
    assert all(row.low <= row.rating <= row.high for row in rows.values())
    assert "J" not in rows

    (agreement,) = snapshot.agreement
    # Both orders of b1..b4: the judge says A, tie, A, B; the voters A, A, tie, B.
    assert agreement["battles_both_orders"] == 4 and agreement["battles"] == 4
    assert agreement["agree_share"] == 0.5
    # Marginals 1/4, 1/4, 1/2 on both sides: p_e = 3/8, kappa = (1/2 - 3/8) / (5/8) = 0.2.
    assert agreement["kappa"] == pytest.approx(0.2, abs=1e-4)
    assert agreement["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert agreement["flip_rate"] == 0.5  # b2 (A then B) and b3 (tie then A)
    # Decisive verdicts: 8 (all but b3's tie); the answer shown first won b1, b2 (twice), b4 swapped, b6.
    assert agreement["first_shown_win_share"] == 5 / 8
    assert agreement["judge_longer_share"] == 1.0  # b1, b3, b4: the longer answer won each
    assert agreement["human_longer_share"] == round(2 / 3, 4)  # b1, b4 yes; b2 no
    # Both boards order X, Y, Z.
    assert (agreement["contenders"], agreement["spearman"], agreement["kendall"]) == (3, 1.0, 1.0)
    assert agreement["statuses"] == {"done": 9, "unparseable": 1}

    category_snapshot = JudgeSnapshot.objects.get(category=category)
    assert category_snapshot.agreement[0]["agree_share"] == 0.5


def _independent_fit(*, games, names):
    """Bradley–Terry by scipy on the game list, ties as half a win each way, the judge board's prior (a
    Gaussian of ARENA_JUDGE_RATING_PRIOR_POINTS on each rating), mean 1000 on the Elo scale."""
    ridge = (400 / np.log(10) / settings.ARENA_JUDGE_RATING_PRIOR_POINTS) ** 2
    index = {name: position for position, name in enumerate(names)}

    def negative_log_likelihood(theta):
        total = 0.0
        for first, second, first_wins, second_wins, ties in games:
            difference = theta[index[first]] - theta[index[second]]
            win = 1 / (1 + np.exp(-difference))
            total -= (first_wins + ties / 2) * np.log(win) + (second_wins + ties / 2) * np.log(1 - win)
        return total + ridge / 2 * np.sum(theta**2)

    fitted = minimize(negative_log_likelihood, np.zeros(len(names)), method="BFGS", options={"gtol": 1e-10}).x
    fitted -= fitted.mean()
    return {name: 1000 + 400 / np.log(10) * fitted[index[name]] for name in names}
