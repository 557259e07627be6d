from celery import shared_task

from battles.services.generation import answer_generate
from battles.services.pool import battle_pool_refill


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def answer_generate_task(answer_id: int) -> str | None:
    answer = answer_generate(answer_id=answer_id)
    return answer.status if answer else None


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, ignore_result=True)
def battle_pool_refill_task() -> int:
    return len(battle_pool_refill().battles_created)
