"""Seeded contenders and questions (seed_arena, seed_votes) are marked, and kept out of voters' battles
unless ARENA_SERVE_SEEDED asks for them; the demo is not seeded and is served."""

import importlib
import random

import pytest
from django.apps import apps
from django.db import models
from django.test import Client

from battles.management.seeding import SeedingRefused, arena_seed, seeded_default
from battles.models import Battle, Contender, Origin, Question
from battles.services.pool import SERVABLE, battle_draw
from battles.services.serving import battle_serve
from battles.services.voting import vote_cast
from tests.factories import (
    AnswerFactory,
    ContenderFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoterFactory,
)

pytestmark = pytest.mark.django_db


def origins_of(battle: Battle) -> tuple[str, str, str]:
    return (battle.question.origin, battle.contender_a.origin, battle.contender_b.origin)


@pytest.fixture
def mixed_arena() -> list[Question]:
    """A seeded arena with six open battles, and beside it two real questions that two contenders answered
    (one real, one from the demo)."""
    arena_seed(contenders=3, questions=5, voters=3, open_battles=6)
    real = OfflineContenderFactory(name="real-model")
    demo = OfflineContenderFactory(name="Demo Offline", origin=Origin.DEMO)
    questions = [QuestionFactory(), QuestionFactory(origin=Origin.DEMO)]
    for question in questions:
        AnswerFactory(question=question, contender=real)
        AnswerFactory(question=question, contender=demo)
    return questions


def test_seeded_rows_are_never_drawn_or_served_while_the_setting_is_off(settings, mixed_arena) -> None:
    settings.ARENA_SERVE_SEEDED = False
    rng = random.Random(7)
    assert Battle.objects.filter(status=Battle.Status.READY).count() == 6
    assert not Battle.objects.filter(SERVABLE).exists()

    every_question = list(Question.objects.values_list("id", flat=True))
    drawn = [battle_draw(rng=rng) for _ in range(20)]
    drawn += [battle_draw(rng=rng, question_ids=every_question) for _ in range(20)]
    assert {battle.question.origin for battle in drawn} == {"real", "demo"}
    assert {(battle.contender_a.name, battle.contender_b.name) for battle in drawn} == {
        ("real-model", "Demo Offline"),
        ("Demo Offline", "real-model"),
    }

    voter = VoterFactory()
    for _ in range(2):  # the two servable questions
        served = battle_serve(voter=voter, rng=rng)
        assert served is not None
        assert "seeded" not in origins_of(served)
        vote_cast(battle_id=served.pk, voter=voter, outcome="a")
    # Every servable answer was revealed to the voter: nothing more (the seeded battles are no way out).
    assert battle_serve(voter=voter, rng=rng) is None
    # The seeded battles wait, unserved.
    seeded = Battle.objects.filter(question__origin="seeded")
    assert list(seeded.values_list("status", flat=True)) == [Battle.Status.READY] * 6
    assert not seeded.filter(voter__isnull=False).exists()


def test_seeded_rows_are_served_when_the_setting_asks_for_them(settings, mixed_arena) -> None:
    settings.ARENA_SERVE_SEEDED = False
    first = battle_serve(voter=VoterFactory(), rng=random.Random(1))
    assert first is not None and "seeded" not in origins_of(first)  # drawn at once for this voter

    settings.ARENA_SERVE_SEEDED = True
    assert Battle.objects.filter(SERVABLE, question__origin="seeded").count() == 6
    served = battle_serve(voter=VoterFactory(), rng=random.Random(1))
    assert served is not None and origins_of(served) == ("seeded", "seeded", "seeded")
    rng = random.Random(7)
    drawn = [battle_draw(rng=rng) for _ in range(30)]
    assert {battle.question.origin for battle in drawn} == {"real", "demo", "seeded"}
    assert "seeded" in {battle.contender_a.origin for battle in drawn}


def test_the_admin_lists_and_filters_by_origin(admin_client: Client, mixed_arena) -> None:
    contenders = admin_client.get("/admin/battles/contender/", {"origin__exact": "seeded"})
    assert contenders.status_code == 200
    names = [contender.name for contender in contenders.context["cl"].result_list]
    assert names == ["seed-model-0001", "seed-model-0002", "seed-model-0003"]
    assert "origin" in contenders.context["cl"].list_display

    questions = admin_client.get("/admin/battles/question/", {"origin__exact": "demo"})
    assert questions.status_code == 200
    assert [question.pk for question in questions.context["cl"].result_list] == [mixed_arena[1].pk]
    assert "origin" in questions.context["cl"].list_display


def test_the_migration_marks_what_the_commands_wrote_before_rows_had_an_origin() -> None:
    seeded_contender = OfflineContenderFactory(name="seed-model-0001", description="synthetic")
    named_like_one = OfflineContenderFactory(name="seed-model-0002", description="my own model")
    demo_contender = ContenderFactory(name="Demo Sage", model_id="sage")
    seeded_question = QuestionFactory(external_id="seed-q-1", source="seed")
    demo_question = QuestionFactory(external_id="demo-zh-qa-02", source="bank.jsonl:1")
    own_question = QuestionFactory(external_id="demo-7", source="mine.jsonl:1")

    importlib.import_module("battles.migrations.0007_origin").origins_mark(apps, None)

    assert dict(Contender.objects.values_list("name", "origin")) == {
        seeded_contender.name: "seeded",
        named_like_one.name: "real",
        demo_contender.name: "demo",
    }
    assert dict(Question.objects.values_list("id", "origin")) == {
        seeded_question.pk: "seeded",
        demo_question.pk: "demo",
        own_question.pk: "real",
    }


def test_seeding_fills_fields_from_their_defaults_and_refuses_a_field_it_cannot_fill():
    required = models.IntegerField()
    required.set_attributes_from_name("added_later")
    with pytest.raises(SeedingRefused, match=r"seeding sets no value for Contender\.added_later"):
        seeded_default(Contender, required)
    defaulted = models.PositiveIntegerField(default=3)
    defaulted.set_attributes_from_name("with_default")
    assert seeded_default(Contender, defaulted) == 3
