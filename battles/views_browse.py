"""Browse mode: read two models' answers to a question side by side, with their names, and give a
named verdict that is kept apart from the votes (never counted on the boards)."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from battles import selectors_browse as selectors
from battles.models import Vote
from battles.services.browse import (
    NAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    BrowseVerdictRejected,
    answers_read_record,
    browse_verdict_give,
)
from battles.services.holds import ServeLimited
from battles.services.voting import ip_hash_of, voter_get_or_create
from battles.views import _see_other, _voter_id_from_cookie, _with_voter_cookie, client_ip


def _enabled() -> None:
    if not settings.ARENA_BROWSE_ENABLED:
        raise Http404


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
def browse_index(request: HttpRequest) -> HttpResponse:
    """The questions two models or more answered: by category, by a text in them, by model."""
    _enabled()
    categories = selectors.browse_categories()
    contenders = selectors.browse_contenders()
    category = next((c for c in categories if c.code == request.GET.get("category")), None)
    model_id = _int(request.GET.get("model"))
    contender = next((c for c in contenders if c.pk == model_id), None)
    search = request.GET.get("q", "").strip()[: selectors.BROWSE_SEARCH_MAX_LENGTH]
    questions = selectors.browse_questions(category=category, search=search, contender=contender)
    page = Paginator(questions, selectors.BROWSE_PAGE_SIZE).get_page(request.GET.get("page"))
    kept = {
        key: value
        for key, value in (
            ("category", category.code if category else ""),
            ("q", search),
            ("model", contender.pk if contender else ""),
        )
        if value
    }
    return render(
        request,
        "battles/browse/index.html",
        {
            "categories": categories,
            "contenders": contenders,
            "category": category,
            "contender": contender,
            "search": search,
            "page": page,
            "page_query": urlencode(kept),
            "question_query": urlencode({"a": contender.pk}) if contender else "",
            "filtered": bool(kept),
        },
    )


@require_GET
def browse_question(request: HttpRequest, question_id: int) -> HttpResponse:
    """A question and two of its answers side by side, with the models' names; ?a=…&b=… choose them."""
    _enabled()
    return _question_page(
        request, question_id, a_id=_int(request.GET.get("a")), b_id=_int(request.GET.get("b"))
    )


@require_POST
def browse_verdict(request: HttpRequest, question_id: int) -> HttpResponse:
    """Keep a named verdict on the two answers shown; then the same page, which lists it."""
    _enabled()
    a_id, b_id = _int(request.POST.get("answer_a")), _int(request.POST.get("answer_b"))
    ip_hash = ip_hash_of(client_ip(request))
    try:
        voter = voter_get_or_create(voter_id=_voter_id_from_cookie(request), ip_hash=ip_hash)
        verdict = browse_verdict_give(
            question_id=question_id,
            answer_a_id=a_id or 0,
            answer_b_id=b_id or 0,
            outcome=request.POST.get("outcome", ""),
            name=request.POST.get("name", ""),
            reason=request.POST.get("reason", ""),
            voter=voter,
            ip_hash=ip_hash,
        )
    except (BrowseVerdictRejected, ServeLimited) as rejection:
        models = selectors.browse_contenders_of_answers(answer_ids=[a_id or 0, b_id or 0])
        response = _question_page(
            request,
            question_id,
            a_id=models.get(a_id or 0),
            b_id=models.get(b_id or 0),
            error=rejection.shown_message(),
            status=rejection.http_status,
        )
        if rejection.retry_after is not None:
            response["Retry-After"] = str(rejection.retry_after)
        return response
    query = urlencode({"a": verdict.answer_a.contender_id, "b": verdict.answer_b.contender_id, "saved": 1})
    url = reverse("browse:question", kwargs={"question_id": question_id})
    return _with_voter_cookie(_see_other(f"{url}?{query}#named-verdicts"), voter)


def _question_page(
    request: HttpRequest,
    question_id: int,
    *,
    a_id: int | None,
    b_id: int | None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    question = selectors.browse_question(question_id=question_id)
    if question is None:
        raise Http404
    answers = selectors.browse_answers(question=question)
    by_contender = {answer.contender_id: answer for answer in answers}
    answer_a = by_contender.get(a_id or 0) or (answers[0] if answers else None)
    others = [answer for answer in answers if answer is not answer_a]
    answer_b = by_contender.get(b_id or 0) if b_id != getattr(answer_a, "contender_id", None) else None
    answer_b = answer_b or (others[0] if others else None)
    context: dict[str, Any] = {
        "question": question,
        "answers": answers,
        "answer_a": answer_a,
        "answer_b": answer_b,
        "outcomes": Vote.Outcome.choices,
        "error": error,
        "saved": request.GET.get("saved") == "1" and not error,
        "name_max_length": NAME_MAX_LENGTH,
        "reason_max_length": REASON_MAX_LENGTH,
        "posted": request.POST if error else {},
        "signed_as": "",
    }
    if answer_a is not None and answer_b is not None:
        context["sides"] = [
            {"key": "a", "label": _("Answer A"), "answer": answer_a},
            {"key": "b", "label": _("Answer B"), "answer": answer_b},
        ]
        context["verdict_count"], context["verdicts"] = selectors.browse_verdicts_on(
            answer_a=answer_a, answer_b=answer_b
        )
        voter_id = _voter_id_from_cookie(request)
        if voter_id is not None:
            # The name of their last verdict, to sign the next one the same way.
            context["signed_as"] = selectors.browse_name_signed(voter_id=voter_id)
            # Read with the names: never served to this voter in a battle.
            answers_read_record(voter_id=voter_id, answers=[answer_a, answer_b])
    return render(request, "battles/browse/question.html", context, status=status)
