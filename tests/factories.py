import factory
from django.utils import timezone

from battles.models import Answer, Battle, Category, Contender, Question, Vote, Voter
from battles.rendering import render_markdown
from battles.services.bank import question_text_sha256
from battles.services.style import answer_style_fields
from ratings.services import pair_counts_add


class CategoryFactory(factory.django.DjangoModelFactory[Category]):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"CAT{n}")
    name = factory.LazyAttribute(lambda category: f"Category {category.code}")


class QuestionFactory(factory.django.DjangoModelFactory[Question]):
    class Meta:
        model = Question

    text = factory.Sequence(lambda n: f"Question number {n}?")
    text_sha256 = factory.LazyAttribute(lambda question: question_text_sha256(question.text))
    category = factory.SubFactory(CategoryFactory)
    language = "en"


class ContenderFactory(factory.django.DjangoModelFactory[Contender]):
    class Meta:
        model = Contender

    name = factory.Sequence(lambda n: f"model-{n}")
    kind = Contender.Kind.ENDPOINT
    base_url = "http://models.test/v1"
    model_id = factory.LazyAttribute(lambda contender: contender.name)


class OfflineContenderFactory(ContenderFactory):
    kind = Contender.Kind.OFFLINE
    base_url = ""
    model_id = ""


class AnswerFactory(factory.django.DjangoModelFactory[Answer]):
    class Meta:
        model = Answer

    question = factory.SubFactory(QuestionFactory)
    contender = factory.SubFactory(ContenderFactory)
    status = Answer.Status.DONE
    text = factory.Sequence(lambda n: f"Answer **{n}**")
    html = factory.LazyAttribute(lambda answer: render_markdown(answer.text))
    style_length = factory.LazyAttribute(lambda answer: answer_style_fields(answer.text)["style_length"])
    style_headers = factory.LazyAttribute(lambda answer: answer_style_fields(answer.text)["style_headers"])
    style_lists = factory.LazyAttribute(lambda answer: answer_style_fields(answer.text)["style_lists"])
    style_bold = factory.LazyAttribute(lambda answer: answer_style_fields(answer.text)["style_bold"])


class VoterFactory(factory.django.DjangoModelFactory[Voter]):
    class Meta:
        model = Voter


class BattleFactory(factory.django.DjangoModelFactory[Battle]):
    """A ready battle between two fresh contenders on one question."""

    class Meta:
        model = Battle

    question = factory.SubFactory(QuestionFactory)
    contender_a = factory.SubFactory(ContenderFactory)
    contender_b = factory.SubFactory(ContenderFactory)
    answer_a = factory.LazyAttribute(lambda b: AnswerFactory(question=b.question, contender=b.contender_a))
    answer_b = factory.LazyAttribute(lambda b: AnswerFactory(question=b.question, contender=b.contender_b))
    status = Battle.Status.READY
    ready_at = factory.LazyFunction(timezone.now)


class VoteFactory(factory.django.DjangoModelFactory[Vote]):
    """A vote, counted in the pair counters as vote_cast counts it."""

    class Meta:
        model = Vote
        skip_postgeneration_save = True

    contender_a = factory.SubFactory(ContenderFactory)
    contender_b = factory.SubFactory(ContenderFactory)
    outcome = Vote.Outcome.A
    counted = factory.PostGeneration(
        lambda vote, create, extracted, **_: create and pair_counts_add(votes=[vote])
    )
