import random
import threading
import time

import pytest
from django.db import connection, transaction

from battles.models import Answer, Battle
from battles.services.pool import (
    POOL_REFILL_LOCK,
    NoBattleCanBeDrawn,
    battle_draw,
    battle_pool_refill,
    battle_pool_refill_locked,
)
from tests.factories import AnswerFactory, ContenderFactory, OfflineContenderFactory, QuestionFactory
from tests.locks import another_session_holds

pytestmark = pytest.mark.django_db


def test_refill_draws_up_to_target_and_creates_pending_answers_once(settings):
    settings.ARENA_POOL_TARGET = 5
    QuestionFactory.create_batch(3)
    ContenderFactory.create_batch(3)

    report = battle_pool_refill(rng=random.Random(1))

    assert len(report.battles_created) == 5
    assert Battle.objects.filter(status=Battle.Status.GENERATING).count() == 5
    # Answers are shared between battles on the same (question, contender): at most 3 × 3 exist.
    answers = Answer.objects.all()
    assert answers.count() == 5  # 5 battles on 3 questions: shared answers, fewer than 10
    assert sorted(report.answers_queued) == sorted(answers.values_list("id", flat=True))
    assert set(answers.values_list("status", flat=True)) == {Answer.Status.PENDING}
    for battle in Battle.objects.all():
        assert battle.contender_a_id != battle.contender_b_id
        assert battle.answer_a.contender_id == battle.contender_a_id
        assert battle.answer_b.question_id == battle.question_id

    again = battle_pool_refill(rng=random.Random(2))
    assert again.battles_created == [] and again.open_before == 5


def test_done_answers_are_reused_and_battle_is_ready_at_once():
    question = QuestionFactory()
    first, second = OfflineContenderFactory(), OfflineContenderFactory()
    AnswerFactory(question=question, contender=first)
    AnswerFactory(question=question, contender=second)

    battle = battle_draw(rng=random.Random(0))

    assert battle.status == Battle.Status.READY and battle.ready_at is not None
    assert {battle.contender_a, battle.contender_b} == {first, second}
    assert Answer.objects.count() == 2


def test_sides_are_random():
    question = QuestionFactory()
    first, second = OfflineContenderFactory(), OfflineContenderFactory()
    AnswerFactory(question=question, contender=first)
    AnswerFactory(question=question, contender=second)
    rng = random.Random(7)
    firsts = {battle_draw(rng=rng).contender_a_id for _ in range(20)}
    assert firsts == {first.pk, second.pk}


def test_offline_contender_without_answer_is_never_drawn():
    question = QuestionFactory()
    endpoint_one, endpoint_two = ContenderFactory(), ContenderFactory()
    offline = OfflineContenderFactory()
    rng = random.Random(3)
    for _ in range(10):
        battle = battle_draw(rng=rng)
        assert offline.pk not in (battle.contender_a_id, battle.contender_b_id)
        assert {battle.contender_a_id, battle.contender_b_id} == {endpoint_one.pk, endpoint_two.pk}
        assert battle.question == question


def test_failed_answers_are_not_drawn_again():
    question = QuestionFactory()
    good_one, good_two, broken = ContenderFactory(), ContenderFactory(), ContenderFactory()
    AnswerFactory(question=question, contender=broken, status=Answer.Status.FAILED, text="")
    rng = random.Random(5)
    for _ in range(10):
        battle = battle_draw(rng=rng)
        assert broken.pk not in (battle.contender_a_id, battle.contender_b_id)
    assert {good_one.pk, good_two.pk} == set(
        Answer.objects.exclude(contender=broken).values_list("contender", flat=True)
    )


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda: QuestionFactory(), "0 active contender(s)"),
        (lambda: (QuestionFactory(), ContenderFactory()), "1 active contender(s)"),
        (lambda: (ContenderFactory(), ContenderFactory()), "there is no active question"),
        (
            lambda: (QuestionFactory(is_active=False), ContenderFactory(), ContenderFactory()),
            "no active question",
        ),
        (
            lambda: (QuestionFactory(), OfflineContenderFactory(), OfflineContenderFactory()),
            "has two contenders able to answer it",
        ),
        (
            lambda: (QuestionFactory(), ContenderFactory(), ContenderFactory(is_active=False)),
            "1 active contender(s)",
        ),
    ],
)
def test_refill_says_why_nothing_can_be_drawn(setup, reason, settings):
    settings.ARENA_POOL_TARGET = 3
    setup()
    report = battle_pool_refill(rng=random.Random(0))
    assert report.battles_created == []
    assert reason in report.problem
    assert not Battle.objects.exists()
    with pytest.raises(NoBattleCanBeDrawn):
        battle_draw(rng=random.Random(0))


@pytest.mark.django_db(transaction=True)
def test_answer_finishing_while_battle_is_drawn_leaves_the_battle_ready():
    """The generation task may finish between the draw's reading of an answer's status and its
    creating the battle: here it holds the answers' rows (as its save does) while the draw reads them,
    and saves them done once the draw waits for those rows."""
    question = QuestionFactory()
    answers = [
        AnswerFactory(question=question, contender=contender, status=Answer.Status.PENDING, text="")
        for contender in ContenderFactory.create_batch(2)
    ]
    rows_held, draw_waiting = threading.Event(), threading.Event()

    def generation_finishing() -> None:
        try:
            with transaction.atomic():
                list(Answer.objects.select_for_update().filter(pk__in=[answer.pk for answer in answers]))
                rows_held.set()
                draw_waiting.wait(timeout=20)
                Answer.objects.filter(pk__in=[answer.pk for answer in answers]).update(
                    status=Answer.Status.DONE, text="done meanwhile"
                )
        finally:
            connection.close()

    finishing = threading.Thread(target=generation_finishing)
    finishing.start()
    assert rows_held.wait(timeout=20)

    watcher = threading.Thread(target=_signal_when_a_session_waits_for_a_lock, args=(draw_waiting,))
    watcher.start()
    battle = battle_draw(rng=random.Random(0))
    finishing.join(timeout=20)
    watcher.join(timeout=20)

    assert battle.answer_a.status == Answer.Status.PENDING  # what the draw read
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY and battle.ready_at is not None


def _signal_when_a_session_waits_for_a_lock(event: threading.Event) -> None:
    """Set `event` once some database session waits for a lock (the draw, at the answers' rows)."""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not event.is_set():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    event.set()
            time.sleep(0.02)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_answer_failing_while_battle_is_drawn_is_not_used():
    """The generation task may fail an answer between the draw's choosing it and its creating the
    battle: here it holds the answers' rows (as its save does) while the draw chooses, and saves as
    failed the answer whose row the draw waits for. The draw chooses again, without that answer."""
    question = QuestionFactory()
    answers = [
        AnswerFactory(question=question, contender=contender, status=Answer.Status.PENDING, text="")
        for contender in ContenderFactory.create_batch(3)
    ]
    rows_held = threading.Event()
    failed: list[int] = []

    def generation_failing() -> None:
        try:
            with transaction.atomic():
                list(Answer.objects.select_for_update().filter(pk__in=[answer.pk for answer in answers]))
                rows_held.set()
                waited_for = _answer_a_session_waits_for()
                if waited_for is not None:
                    Answer.objects.filter(pk=waited_for).update(status=Answer.Status.FAILED)
                    failed.append(waited_for)
        finally:
            connection.close()

    failing = threading.Thread(target=generation_failing)
    failing.start()
    assert rows_held.wait(timeout=20)
    battle = battle_draw(rng=random.Random(0))
    failing.join(timeout=20)

    assert len(failed) == 1  # the draw did wait for an answer, and that answer failed meanwhile
    assert failed[0] not in (battle.answer_a_id, battle.answer_b_id)
    assert battle.status == Battle.Status.GENERATING
    assert Battle.objects.count() == 1


def _answer_a_session_waits_for() -> int | None:
    """The answer whose row another database session (the draw) is waiting to lock: the tuple lock
    it holds while it waits names the row's place (ctid). None if no session waits within 20 s."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.id FROM pg_locks l JOIN battles_answer a "
                "ON a.ctid = format('(%s,%s)', l.page, l.tuple)::tid "
                "WHERE l.locktype = 'tuple' AND l.relation = 'battles_answer'::regclass "
                "AND l.pid <> pg_backend_pid()"
            )
            row = cursor.fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.02)
    return None


def test_a_refill_while_another_runs_leaves_the_pool_to_it(settings):
    settings.ARENA_POOL_TARGET = 4
    QuestionFactory.create_batch(2)
    ContenderFactory.create_batch(3)
    with another_session_holds(POOL_REFILL_LOCK):
        assert battle_pool_refill_locked() == []  # at once, not after waiting for the other
    assert not Battle.objects.exists()
    created = battle_pool_refill_locked()
    assert len(created) == 4
    assert sorted(Battle.objects.values_list("id", flat=True)) == sorted(created)


def test_a_refill_that_cannot_draw_tries_once(settings, caplog):
    settings.ARENA_POOL_TARGET = 4
    ContenderFactory.create_batch(2)  # and no question
    assert battle_pool_refill_locked() == []
    warnings = [record.getMessage() for record in caplog.records if "cannot grow" in record.getMessage()]
    assert len(warnings) == 1 and "there is no active question" in warnings[0]
