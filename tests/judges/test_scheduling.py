"""What gets judged (judges/services/scheduling.py): voted battles in both orders, a share of the ready
ones, every ready battle of a model the voters have not rated yet, never a judge's own battles, within
the day's budget; and queueing the verdicts that are due."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from battles.models import Battle, Vote
from judges.models import Judge, JudgeDay, Verdict
from judges.services.judges import judge_save
from judges.services.scheduling import (
    LOST_AFTER,
    cold_start_contender_ids,
    ready_share_picks,
    verdicts_requeue,
    verdicts_schedule,
)
from ratings.services.refresh import ratings_refresh
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)
from tests.judges.helpers import verdict_make

pytestmark = pytest.mark.django_db

FIELDS = (
    "battle_id",
    "order",
    "contender_a_id",
    "contender_b_id",
    "answer_a_id",
    "answer_b_id",
    "category_id",
    "status",
    "score",
    "attempts",
    "prompt_id",
)


def judge_of(name: str = "Judge", **fields) -> Judge:
    """A judge on an endpoint that is never drawn into battles."""
    judge, created = judge_save(contender=ContenderFactory(name=name, sampling_weight=0), **fields)
    assert created
    return judge


def ready_battle(a, b, *, category=None) -> Battle:
    question = QuestionFactory(category=category or CategoryFactory())
    return BattleFactory(
        question=question,
        contender_a=a,
        contender_b=b,
        answer_a=AnswerFactory(question=question, contender=a),
        answer_b=AnswerFactory(question=question, contender=b),
    )


def voted_battle(a, b, *, category=None, outcome=Vote.Outcome.A) -> tuple[Battle, Vote]:
    battle = ready_battle(a, b, category=category)
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.VOTED, voter=voter, served_at=timezone.now(), voted_at=timezone.now()
    )
    vote = VoteFactory(
        battle=battle,
        voter=voter,
        contender_a=a,
        contender_b=b,
        category=battle.question.category,
        outcome=outcome,
    )
    battle.refresh_from_db()
    return battle, vote


def expected_rows(battle: Battle) -> set[tuple]:
    return {
        (
            battle.pk,
            order,
            battle.contender_a_id,
            battle.contender_b_id,
            battle.answer_a_id,
            battle.answer_b_id,
            battle.question.category_id,
            "pending",
            None,
            0,
            None,
        )
        for order in ("shown", "swapped")
    }


def verdict_rows(judge: Judge | None = None) -> set[tuple]:
    verdicts = Verdict.objects.all() if judge is None else Verdict.objects.filter(judge=judge)
    return set(verdicts.values_list(*FIELDS))


def settle(*pairs, times: int) -> None:
    """Votes without battles (as imported ones are), then a snapshot of the human board."""
    for a, b in pairs:
        for _ in range(times):
            VoteFactory(contender_a=a, contender_b=b, outcome=Vote.Outcome.TIE)
    assert ratings_refresh(force=True) is not None


# --- Voted battles ---------------------------------------------------------------------------------


def test_voted_battles_get_both_orders_with_the_battles_pair_answers_and_category():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of()
    first, first_vote = voted_battle(x, y, category=CategoryFactory(code="QA"))
    second, second_vote = voted_battle(y, x, category=CategoryFactory(code="CODE"), outcome=Vote.Outcome.B)

    report = verdicts_schedule()

    assert report.created == {judge.pk: 4}
    assert verdict_rows() == expected_rows(first) | expected_rows(second)
    assert set(Verdict.objects.values_list("judge_id", flat=True)) == {judge.pk}
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == second_vote.pk > first_vote.pk
    # New verdicts are queued at once, in id order.
    assert report.queued == list(Verdict.objects.order_by("id").values_list("id", flat=True))


def test_a_second_pass_creates_nothing_new_and_a_new_vote_only_its_battle():
    x, y, z = (ContenderFactory(name=name) for name in "XYZ")
    judge = judge_of()
    first, _ = voted_battle(x, y)
    assert verdicts_schedule().created == {judge.pk: 2}
    before = verdict_rows()

    again = verdicts_schedule()

    assert again.created == {}
    assert verdict_rows() == before
    assert again.queued == []  # stamped by the first pass: not due again yet

    later, later_vote = voted_battle(z, x)
    assert verdicts_schedule().created == {judge.pk: 2}
    assert verdict_rows() == expected_rows(first) | expected_rows(later)
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == later_vote.pk


def test_a_judge_never_gets_its_own_battles_voted_or_ready():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of("J", ready_share=1.0)
    other = judge_of("K", ready_share=1.0)
    own_voted, own_vote = voted_battle(x, judge.contender)
    own_ready = ready_battle(judge.contender, y)
    theirs = ready_battle(x, y)

    report = verdicts_schedule()

    assert report.created == {judge.pk: 2, other.pk: 6}
    assert verdict_rows(judge) == expected_rows(theirs)
    assert verdict_rows(other) == expected_rows(own_voted) | expected_rows(own_ready) | expected_rows(theirs)
    # Its own battle's vote is looked at (and passed over) all the same.
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == own_vote.pk

    assert verdicts_schedule().created == {}
    assert Verdict.objects.filter(judge=judge, battle__in=[own_voted, own_ready]).count() == 0


def test_a_judge_that_does_not_judge_voted_battles_leaves_them_and_its_watermark():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(judges_voted=False)
    voted_battle(x, y)

    report = verdicts_schedule()

    assert report.created == {}
    assert Verdict.objects.count() == 0
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == 0


def test_a_battle_judged_while_ready_is_not_judged_again_once_voted():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(ready_share=1.0, daily_call_budget=4)
    battle = ready_battle(x, y)
    assert verdicts_schedule().created == {judge.pk: 2}
    # Both verdicts judged: two calls spent today, two left, enough for one more battle.
    Verdict.objects.update(status=Verdict.Status.DONE, score=1)
    JudgeDay.objects.create(judge=judge, day=timezone.now().date(), calls=2)
    before = verdict_rows()
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.VOTED, voter=voter, served_at=timezone.now()
    )
    vote = VoteFactory(
        battle=battle, voter=voter, contender_a=x, contender_b=y, category=battle.question.category
    )
    newcomer = ready_battle(y, x)

    report = verdicts_schedule()

    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == vote.pk
    assert not Verdict.objects.filter(battle=battle).exclude(status=Verdict.Status.DONE).exists()
    # The voted battle, judged already, takes none of the room: the new ready battle gets it, and the
    # report counts the two verdicts made for it alone.
    assert verdict_rows() == before | expected_rows(newcomer)
    assert report.created == {judge.pk: 2}


# --- Ready battles ---------------------------------------------------------------------------------


def _share_place(battle_id: int) -> float:
    """The battle's place in [0, 1): Knuth's multiplicative hash, worked out here on its own."""
    return (battle_id * 2654435761 % 4294967296) / 4294967296


def test_ready_share_picks_is_a_stable_function_of_the_battle_id():
    # 2654435761 / 2^32 = 0.6180339887… (the golden ratio's fraction); twice that, mod 1, 0.2360679…
    assert (ready_share_picks(1, 0.6180), ready_share_picks(1, 0.6181)) == (False, True)
    assert (ready_share_picks(2, 0.2360), ready_share_picks(2, 0.2361)) == (False, True)
    ids = range(1, 20_001)
    assert not any(ready_share_picks(battle_id, 0.0) for battle_id in ids)
    assert all(ready_share_picks(battle_id, 1.0) for battle_id in ids)
    picked = [battle_id for battle_id in ids if ready_share_picks(battle_id, 0.3)]
    assert picked == [battle_id for battle_id in ids if _share_place(battle_id) < 0.3]
    assert picked == [battle_id for battle_id in ids if ready_share_picks(battle_id, 0.3)]
    assert len(picked) == 5999  # the multiplicative hash spreads consecutive ids evenly


def test_a_share_of_ready_battles_between_settled_contenders(settings):
    settings.ARENA_PRELIMINARY_VOTES = 2
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    settle((x, y), times=2)
    battles = [ready_battle(x, y) if number % 2 else ready_battle(y, x) for number in range(24)]
    none = judge_of("none", ready_share=0.0)
    half = judge_of("half", ready_share=0.5)
    every = judge_of("all", ready_share=1.0)
    halved = [battle for battle in battles if _share_place(battle.pk) < 0.5]
    assert 0 < len(halved) < len(battles)

    report = verdicts_schedule()

    assert report.created == {half.pk: 2 * len(halved), every.pk: 48}
    assert verdict_rows(none) == set()
    assert verdict_rows(half) == set().union(*(expected_rows(battle) for battle in halved))
    assert verdict_rows(every) == set().union(*(expected_rows(battle) for battle in battles))
    assert verdicts_schedule().created == {}


def test_ready_battles_of_a_cold_start_contender_are_judged_whatever_the_share(settings):
    settings.ARENA_PRELIMINARY_VOTES = 2
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    few = ContenderFactory(name="few votes")
    new = ContenderFactory(name="no votes")
    ContenderFactory(name="never drawn", sampling_weight=0)
    ContenderFactory(name="retired", is_retired=True)
    settle((x, y), (x, few), times=1)  # x: 2 votes, y: 1, few: 1 ...
    settle((y, x), times=1)  # ... now x: 3, y: 2, few: 1
    judge = judge_of(ready_share=0.0)
    assert cold_start_contender_ids() == {few.pk, new.pk}
    settled = ready_battle(x, y)
    with_few = ready_battle(few, x)
    with_new = ready_battle(y, new)
    both_cold = ready_battle(new, few)

    report = verdicts_schedule()

    assert report.created == {judge.pk: 6}
    assert verdict_rows(judge) == expected_rows(with_few) | expected_rows(with_new) | expected_rows(both_cold)
    assert not Verdict.objects.filter(battle=settled).exists()


def test_without_a_human_board_every_drawable_contender_is_cold():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    idle = ContenderFactory(name="inactive", is_active=False)
    unweighted = ContenderFactory(name="never drawn", sampling_weight=0)
    judge = judge_of(ready_share=0.0)
    assert cold_start_contender_ids() == {x.pk, y.pk}
    battle = ready_battle(x, y)
    ready_battle(idle, unweighted)
    assert verdicts_schedule().created == {judge.pk: 2}
    assert verdict_rows(judge) == expected_rows(battle)


def test_battles_that_are_not_ready_or_voted_are_never_judged():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(ready_share=1.0)
    for status in (Battle.Status.GENERATING, Battle.Status.RETIRED):
        battle = ready_battle(x, y)
        Battle.objects.filter(pk=battle.pk).update(status=status)
    served = ready_battle(x, y)
    Battle.objects.filter(pk=served.pk).update(
        status=Battle.Status.SERVED, voter=VoterFactory(), served_at=timezone.now()
    )
    assert verdicts_schedule().created == {}
    assert Verdict.objects.count() == 0 and judge.verdicts.count() == 0


# --- The budget ------------------------------------------------------------------------------------


def test_the_daily_budget_limits_what_is_created():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(daily_call_budget=7)
    today = timezone.now().date()
    JudgeDay.objects.create(judge=judge, day=today, calls=2)
    JudgeDay.objects.create(judge=judge, day=today - dt.timedelta(days=1), calls=500)  # not today's
    pairs = [voted_battle(x, y) for _ in range(4)]
    (b1, _), (b2, v2), (b3, v3), (b4, _) = pairs

    # Room: 7 − 2 calls today − 0 waiting = 5 verdicts, so 2 battles (two verdicts each).
    assert verdicts_schedule().created == {judge.pk: 4}
    assert verdict_rows() == expected_rows(b1) | expected_rows(b2)
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == v2.pk

    # 7 − 2 − 4 waiting = 1: not enough for a battle.
    assert verdicts_schedule().created == {}
    assert Verdict.objects.count() == 4

    Verdict.objects.update(status=Verdict.Status.DONE, score=0)
    before = verdict_rows()
    JudgeDay.objects.filter(judge=judge, day=today).update(calls=4)
    # 7 − 4 − 0 = 3: one battle.
    assert verdicts_schedule().created == {judge.pk: 2}
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == v3.pk
    assert verdict_rows() - before == expected_rows(b3)
    assert not Verdict.objects.filter(battle=b4).exists()


def test_a_spent_budget_creates_nothing():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(daily_call_budget=10, ready_share=1.0)
    JudgeDay.objects.create(judge=judge, day=timezone.now().date(), calls=10)
    voted_battle(x, y)
    ready_battle(x, y)
    assert verdicts_schedule().created == {}
    assert Verdict.objects.count() == 0
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == 0


def test_a_paused_judge_gets_nothing():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(is_active=False, ready_share=1.0)
    voted_battle(x, y)
    ready_battle(x, y)
    report = verdicts_schedule()
    assert (report.created, report.queued) == ({}, [])
    assert Verdict.objects.count() == 0
    judge.refresh_from_db()
    assert judge.scheduled_through_vote_id == 0


# --- Queueing --------------------------------------------------------------------------------------


def verdict_row(judge: Judge, battle: Battle, order: str, **fields) -> Verdict:
    return verdict_make(judge, battle, order, **fields)


def test_requeue_queues_only_due_verdicts_and_frees_those_whose_lease_ran_out(
    django_capture_on_commit_callbacks,
):
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of()
    paused = judge_of("paused", is_active=False)
    battles = [ready_battle(x, y) for _ in range(4)]
    now = timezone.now()
    hour = dt.timedelta(hours=1)
    new = verdict_row(judge, battles[0], "shown")
    due = verdict_row(judge, battles[0], "swapped", retry_at=now - hour, attempts=1)
    later_at = now + hour
    later = verdict_row(judge, battles[1], "shown", retry_at=later_at, attempts=1)
    lost = verdict_row(
        judge,
        battles[1],
        "swapped",
        status=Verdict.Status.RUNNING,
        claim_token=uuid.uuid4(),
        lease_expires_at=now - dt.timedelta(seconds=1),
        attempts=2,
    )
    running_token = uuid.uuid4()
    running = verdict_row(
        judge,
        battles[2],
        "shown",
        status=Verdict.Status.RUNNING,
        claim_token=running_token,
        lease_expires_at=later_at,
        attempts=1,
    )
    done = verdict_row(judge, battles[2], "swapped", status=Verdict.Status.DONE, score=1)
    waiting_for_paused = verdict_row(paused, battles[3], "shown")

    before = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        queued = verdicts_requeue()
    after = timezone.now()

    assert queued == [new.pk, due.pk, lost.pk]
    assert len(callbacks) == 3
    for verdict in (new, due, lost):
        verdict.refresh_from_db()
        assert verdict.status == Verdict.Status.PENDING
        assert before + LOST_AFTER <= verdict.retry_at <= after + LOST_AFTER
        assert (verdict.claim_token, verdict.lease_expires_at) == (None, None)
    assert (new.attempts, due.attempts, lost.attempts) == (0, 1, 2)
    later.refresh_from_db()
    assert (later.status, later.retry_at) == ("pending", later_at)
    running.refresh_from_db()
    assert (running.status, running.claim_token, running.lease_expires_at) == (
        "running",
        running_token,
        later_at,
    )
    done.refresh_from_db()
    assert (done.status, done.retry_at) == ("done", None)
    waiting_for_paused.refresh_from_db()
    assert (waiting_for_paused.status, waiting_for_paused.retry_at) == ("pending", None)

    # Stamped: queued again only once LOST_AFTER has passed.
    with django_capture_on_commit_callbacks() as callbacks:
        assert verdicts_requeue() == []
    assert callbacks == []


def test_resuming_a_judge_makes_its_waiting_verdicts_due():
    x, y = ContenderFactory(name="X"), ContenderFactory(name="Y")
    judge = judge_of(is_active=False)
    battle = ready_battle(x, y)
    waiting = verdict_row(judge, battle, "shown", retry_at=timezone.now() + dt.timedelta(hours=3))
    assert verdicts_requeue() == []

    judge_save(contender=judge.contender, is_active=True)

    waiting.refresh_from_db()
    assert waiting.retry_at is None
    assert verdicts_requeue() == [waiting.pk]
