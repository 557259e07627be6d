"""The admin's lists: what they show, in which order, in how many queries, and in which language."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat
from arena.services import login_attempt_start
from battles.models import AnswerAttempt, Battle, BrowseVerdict, Category, Vote
from battles.services.voting import ip_hash_of
from ratings.services import ratings_refresh
from tests.factories import BattleFactory, VoteFactory, VoterFactory

pytestmark = pytest.mark.django_db

ROWS = 25


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.org", "a-long-password")
    client = Client()
    client.force_login(user)
    client.cookies["arena_language"] = "en"
    return client


def _rows(count: int) -> None:
    """`count` voted battles, each between contenders and on a question (and category) of its own,
    with their answers, attempts and votes, and the snapshots of a refresh."""
    now = timezone.now()
    for number in range(count):
        voter = VoterFactory()
        battle = BattleFactory(status=Battle.Status.VOTED, voter=voter, served_at=now, voted_at=now)
        VoteFactory(
            battle=battle,
            voter=voter,
            contender_a=battle.contender_a,
            contender_b=battle.contender_b,
            category=battle.question.category,
            outcome=Vote.Outcome.A if number % 2 else Vote.Outcome.TIE,
        )
        BrowseVerdict.objects.create(
            question=battle.question,
            answer_a=battle.answer_a,
            answer_b=battle.answer_b,
            outcome=Vote.Outcome.B,
            name=f"Reader {number}",
            reason="Clearer steps",
            voter=voter,
        )
        for answer in (battle.answer_a, battle.answer_b):
            AnswerAttempt.objects.create(
                answer=answer,
                number=1,
                started_at=now,
                finished_at=now,
                outcome=AnswerAttempt.Outcome.SUCCEEDED,
                status_code=200,
                latency_ms=900,
            )
    for category in Category.objects.all():
        ratings_refresh(category=category)
    ratings_refresh()
    StoreOutage.objects.create(store="cache", started_at=now, last_error="ConnectionError: refused")
    WorkerHeartbeat.objects.create(name="celery@host:1", pid=1, started_at=now, last_seen_at=now)
    PeriodicTaskRun.objects.create(task="battle_pool_refill_task", last_run_at=now, runs=1)
    login_attempt_start(username="root", address_hash=ip_hash_of("198.51.100.1"))  # a failed login


@pytest.fixture
def arena_rows(settings) -> None:
    settings.ARENA_BOOTSTRAP_ROUNDS = 10
    _rows(ROWS)


@pytest.fixture
def a_row_of_each(settings) -> None:
    settings.ARENA_BOOTSTRAP_ROUNDS = 10
    _rows(1)


def _our_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in ("arena", "battles", "ratings")
    ]


def _changelist(model: type) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# Queries of a whole list page (session, user, counts, filters' choices, the rows), whatever the
# number of rows: a column that reads another table row by row would add one per row.
LIST_QUERIES = {
    "battles.Category": 5,
    "battles.Question": 7,
    "battles.Contender": 5,
    "battles.Answer": 7,
    "battles.AnswerAttempt": 6,
    "battles.Battle": 6,
    "battles.Voter": 5,
    "battles.Vote": 8,
    "battles.BrowseVerdict": 6,
    "ratings.RatingSnapshot": 6,
    "ratings.ContenderRating": 7,
    "ratings.PairCount": 6,
    "ratings.EloRating": 6,
    "ratings.RatingMatrix": 6,
}


@pytest.mark.parametrize(("label", "queries"), LIST_QUERIES.items())
def test_a_list_of_many_rows_takes_a_few_queries(
    staff, arena_rows, django_assert_max_num_queries, label, queries
):
    model = next(model for model, _ in _our_admins() if model._meta.label == label)
    with django_assert_max_num_queries(queries):
        page = staff.get(_changelist(model))
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) >= 20


def test_every_list_has_its_query_count_pinned_or_holds_a_few_rows():
    pinned = set(LIST_QUERIES)
    few = {"arena.StoreOutage", "arena.WorkerHeartbeat", "arena.PeriodicTaskRun", "ratings.RatingsState"}
    few.add("arena.LoginAttempt")
    assert {model._meta.label for model, _ in _our_admins()} == pinned | few


def _listed(staff: Client, model: type) -> list:
    return list(staff.get(_changelist(model)).context["cl"].result_list)


def test_records_are_listed_newest_first_and_the_bank_by_name(staff, arena_rows):
    from battles.models import Answer, Contender, Question

    votes = _listed(staff, Vote)
    assert [(vote.created_at, vote.pk) for vote in votes] == sorted(
        ((vote.created_at, vote.pk) for vote in votes), reverse=True
    )
    for model in (Battle, Answer, AnswerAttempt):
        ids = [row.pk for row in _listed(staff, model)]
        assert ids == sorted(ids, reverse=True), model
    names = [contender.name for contender in _listed(staff, Contender)]
    assert names == sorted(names)
    questions = [(question.category.code, question.pk) for question in _listed(staff, Question)]
    assert questions == sorted(questions)


# Labels that read the same in both languages.
SAME_IN_BOTH = {"ID", "Elo"}


def _labels(model: type, model_admin: admin.ModelAdmin, request) -> list[str]:
    """Every label of the list page and the change page: columns, filters, actions, sections."""
    labels = [str(label_for_field(name, model, model_admin)) for name in model_admin.list_display]
    for entry in model_admin.list_filter:
        if isinstance(entry, type):
            labels.append(str(entry.title))
            continue
        path = entry[0] if isinstance(entry, tuple) else entry
        field = None
        current = model
        for part in path.split("__"):
            field = current._meta.get_field(part)
            current = field.related_model
        labels.append(str(field.verbose_name))
    labels += [str(description) for _, _, description in model_admin.get_actions(request).values()]
    labels += [str(name) for name, _ in model_admin.get_fieldsets(request) if name]
    labels += [str(model._meta.verbose_name), str(model._meta.verbose_name_plural)]
    labels += [str(model_admin.search_help_text or "")]
    return labels


def test_every_label_of_the_admin_has_its_chinese(rf, django_user_model):
    request = rf.get("/admin/")
    request.user = django_user_model(is_staff=True, is_superuser=True)
    untranslated = []
    for model, model_admin in _our_admins():
        with translation.override("en"):
            english = _labels(model, model_admin, request)
        with translation.override("zh-hans"):
            chinese = _labels(model, model_admin, request)
        untranslated += [
            f"{model._meta.label}: {label}"
            for label, translated in zip(english, chinese, strict=True)
            if label == translated and label not in SAME_IN_BOTH | {""}
        ]
    assert untranslated == []


def test_the_votes_are_called_votes_not_a_count(staff):
    staff.cookies["arena_language"] = "zh-hans"
    index = staff.get("/admin/").content.decode()
    assert '<a href="/admin/battles/vote/">投票</a>' in index
    assert "投票数</a>" not in index
    listing = staff.get(_changelist(Vote)).content.decode()
    assert "<title>选择投票查看 | Arena 管理后台</title>" in listing


@pytest.mark.parametrize("model", [model for model, _ in _our_admins()], ids=lambda model: model._meta.label)
def test_every_list_in_chinese_shows_chinese_columns(staff, a_row_of_each, model):
    staff.cookies["arena_language"] = "zh-hans"
    page = staff.get(_changelist(model))
    headers = re.findall(
        r'<th scope="col"[^>]*>\s*(?:<div class="sortoptions">.*?</div>)?\s*'
        r'<div class="text">(?:<a [^>]*>|<span>)(.*?)(?:</a>|</span>)',
        page.content.decode(),
        re.S,
    )
    assert len(headers) == len(page.context["cl"].list_display)  # every column (and the checkboxes')
    english = [
        header for header in headers if re.fullmatch(r"[A-Za-z ()]+", header) and header not in SAME_IN_BOTH
    ]
    assert english == []
