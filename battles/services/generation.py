"""Fetching answers from endpoint contenders, and moving battles on when their answers are in."""

import logging
import os
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from battles import endpoints
from battles.models import Answer, Battle, Contender, Question
from battles.rendering import render_markdown

logger = logging.getLogger(__name__)


def contender_request_parameters(*, contender: Contender) -> dict[str, Any]:
    """The body fields a contender's requests carry besides model and messages."""
    parameters: dict[str, Any] = dict(contender.extra_parameters or {})
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(contender, name)
        if value is not None:
            parameters[name] = value
    return parameters


def chat_request_build(*, contender: Contender, question: Question) -> endpoints.ChatRequest:
    messages = []
    if contender.system_prompt:
        messages.append({"role": "system", "content": contender.system_prompt})
    messages.append({"role": "user", "content": question.text})
    api_key = ""
    if contender.api_key_env:
        api_key = os.environ.get(contender.api_key_env, "")
        if not api_key:
            raise endpoints.PermanentEndpointError(
                f"the environment variable {contender.api_key_env} (API key of {contender.name}) is not set"
            )
    return endpoints.ChatRequest(
        base_url=contender.base_url,
        model_id=contender.model_id,
        messages=messages,
        parameters=contender_request_parameters(contender=contender),
        api_key=api_key,
        timeout_seconds=contender.request_timeout_seconds or settings.ARENA_ENDPOINT_TIMEOUT_SECONDS,
        connect_timeout_seconds=settings.ARENA_ENDPOINT_CONNECT_TIMEOUT_SECONDS,
    )


def answer_generate(*, answer_id: int) -> Answer | None:
    """Fetch one pending answer from its contender's endpoint.

    The row is claimed with one conditional update (pending → running): if another worker got there
    first, nothing is done. The endpoint is called outside any transaction.
    """
    claimed = Answer.objects.filter(pk=answer_id, status=Answer.Status.PENDING).update(
        status=Answer.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    answer = Answer.objects.select_related("question", "contender").get(pk=answer_id)
    contender = answer.contender
    if not contender.is_endpoint:
        _answer_fail(
            answer, f"{contender.name} is an offline contender: its answers are imported, not generated"
        )
        return answer
    try:
        request = chat_request_build(contender=contender, question=answer.question)
        answer.parameters = {"model": request.model_id, **request.parameters}
        completion = endpoints.chat_completion(request)
    except endpoints.EndpointError as error:
        logger.warning("answer %s from %s failed: %s", answer.pk, contender.name, error)
        _answer_fail(answer, str(error))
        return answer
    answer.text = completion.text
    answer.html = render_markdown(completion.text)
    answer.latency_ms = completion.latency_ms
    answer.status = Answer.Status.DONE
    answer.error = ""
    answer.finished_at = timezone.now()
    with transaction.atomic():
        answer.save(
            update_fields=["text", "html", "latency_ms", "status", "error", "finished_at", "parameters"]
        )
        battles_advance_for_answer(answer=answer)
    return answer


def _answer_fail(answer: Answer, error: str) -> None:
    answer.status = Answer.Status.FAILED
    answer.error = error
    answer.finished_at = timezone.now()
    with transaction.atomic():
        answer.save(update_fields=["status", "error", "finished_at", "parameters"])
        battles_advance_for_answer(answer=answer)


def battles_advance_for_answer(*, answer: Answer) -> int:
    """Make battles ready once both answers are done; retire those whose answer failed.

    Voters are never shown a battle with a missing or failed answer.
    """
    uses_answer = Q(answer_a=answer) | Q(answer_b=answer)
    if answer.status == Answer.Status.DONE:
        return Battle.objects.filter(
            uses_answer,
            status=Battle.Status.GENERATING,
            answer_a__status=Answer.Status.DONE,
            answer_b__status=Answer.Status.DONE,
        ).update(status=Battle.Status.READY, ready_at=timezone.now())
    if answer.status == Answer.Status.FAILED:
        return Battle.objects.filter(
            uses_answer, status__in=[Battle.Status.GENERATING, Battle.Status.READY]
        ).update(status=Battle.Status.RETIRED, retired_reason=f"answer {answer.pk} failed")
    return 0
