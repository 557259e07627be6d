"""Reads for browse mode: questions that at least two models answered, and their answers by model."""

import uuid
from dataclasses import dataclass

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from battles.models import Answer, BrowseVerdict, Category, Contender, Question

BROWSE_PAGE_SIZE = 20
BROWSE_SEARCH_MAX_LENGTH = 200
BROWSE_VERDICTS_SHOWN = 20


def browse_categories() -> list[Category]:
    """Categories with at least one active question, in code order."""
    return list(
        Category.objects.filter(Exists(Question.objects.filter(category=OuterRef("pk"), is_active=True)))
    )


def browse_contenders() -> list[Contender]:
    """Every model with at least one answer to read, by name."""
    done = Answer.objects.filter(contender=OuterRef("pk"), status=Answer.Status.DONE)
    return list(Contender.objects.filter(Exists(done)).only("id", "name").order_by("name"))


def browse_questions(
    *, category: Category | None = None, search: str = "", contender: Contender | None = None
) -> QuerySet[Question]:
    """Active questions with answers from two models or more, each with `models_answered`; in a
    category, containing a text (case-insensitive, in the question or its translation), answered by a
    model: whichever are given."""
    done = Answer.objects.filter(question=OuterRef("pk"), status=Answer.Status.DONE)
    answered = done.order_by().values("question").annotate(n=Count("contender", distinct=True)).values("n")
    questions = (
        Question.objects.filter(is_active=True)
        .select_related("category")
        .annotate(models_answered=Coalesce(Subquery(answered, output_field=IntegerField()), 0))
        .filter(models_answered__gte=2)
        .order_by("id")
    )
    if category is not None:
        questions = questions.filter(category=category)
    if search:
        found = Q(text__icontains=search) | Q(text_en__icontains=search) | Q(external_id=search)
        questions = questions.filter(found)
    if contender is not None:
        questions = questions.filter(Exists(done.filter(contender=contender)))
    return questions


def browse_question(*, question_id: int) -> Question | None:
    return Question.objects.filter(pk=question_id, is_active=True).select_related("category").first()


def browse_answers(*, question: Question) -> list[Answer]:
    """One answer per model that answered the question (its first sample), by model name."""
    answers = (
        Answer.objects.filter(question=question, status=Answer.Status.DONE)
        .select_related("contender")
        .order_by("contender_id", "sample_index")
        .distinct("contender_id")
    )
    return sorted(answers, key=lambda answer: answer.contender.name.casefold())


@dataclass(frozen=True)
class ShownVerdict:
    """A browse verdict as the page shows it: the winner by name, whichever side it was given on."""

    verdict: BrowseVerdict
    outcome: str  # a / b / tie / both_bad, as seen from the page's A and B
    winner: Contender | None


def browse_verdicts_on(*, answer_a: Answer, answer_b: Answer) -> tuple[int, list[ShownVerdict]]:
    """How many named verdicts were given on these two answers (either way round), and the latest."""
    verdicts = BrowseVerdict.objects.filter(
        Q(answer_a=answer_a, answer_b=answer_b) | Q(answer_a=answer_b, answer_b=answer_a)
    )
    shown = []
    for verdict in verdicts[:BROWSE_VERDICTS_SHOWN]:
        outcome = verdict.outcome
        if verdict.answer_a_id != answer_a.pk and outcome in {"a", "b"}:
            outcome = "b" if outcome == "a" else "a"
        winner = {"a": answer_a.contender, "b": answer_b.contender}.get(outcome)
        shown.append(ShownVerdict(verdict=verdict, outcome=outcome, winner=winner))
    count = len(shown) if len(shown) < BROWSE_VERDICTS_SHOWN else verdicts.count()
    return count, shown


def browse_contenders_of_answers(*, answer_ids: list[int]) -> dict[int, int]:
    """The model of each of these answers, by answer id."""
    return dict(Answer.objects.filter(pk__in=answer_ids).values_list("pk", "contender_id"))


def browse_name_signed(*, voter_id: uuid.UUID) -> str:
    """The name this voter signed their latest verdict with, or ""."""
    names = (
        BrowseVerdict.objects.filter(voter_id=voter_id).order_by("-updated_at").values_list("name", flat=True)
    )
    return names.first() or ""
