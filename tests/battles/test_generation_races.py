"""Races between workers, on PostgreSQL with real concurrent transactions."""

import threading

import pytest
from django.db import connection, transaction

from battles.models import Answer, Battle
from battles.services.battle_states import battles_advance_for_answer
from tests.factories import BattleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_both_answers_finishing_at_once_still_make_the_battle_ready():
    battle = BattleFactory(status=Battle.Status.GENERATING, ready_at=None)
    Answer.objects.filter(pk__in=[battle.answer_a_id, battle.answer_b_id]).update(
        status=Answer.Status.RUNNING
    )
    both_saved = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def finish(answer_id: int) -> None:
        try:
            with transaction.atomic():
                Answer.objects.filter(pk=answer_id).update(status=Answer.Status.DONE)
                # Both answers are saved, neither committed: each worker sees the other's as running.
                both_saved.wait()
                answer = Answer.objects.get(pk=answer_id)
                battles_advance_for_answer(answer=answer)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=finish, args=(answer_id,))
        for answer_id in (battle.answer_a_id, battle.answer_b_id)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert errors == []
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY
