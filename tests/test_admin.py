import datetime as dt
import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from arena.admin_site import ArenaAdminSite
from battles.models import AnswerAttempt, Battle, Category, Contender, Question
from ratings.services import ratings_refresh
from tests.factories import BattleFactory, ContenderFactory, QuestionFactory, VoteFactory, VoterFactory
from tests.fault_server import fault_server

pytestmark = pytest.mark.django_db

MODELS = [
    "battles.category",
    "battles.question",
    "battles.contender",
    "battles.answer",
    "battles.battle",
    "battles.voter",
    "battles.vote",
    "battles.answerattempt",
    "ratings.ratingsnapshot",
    "ratings.contenderrating",
    "ratings.paircount",
    "ratings.elorating",
    "ratings.ratingsstate",
    "ratings.ratingmatrix",
]


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.org", "a-long-password")
    client = Client()
    client.force_login(user)
    client.cookies["arena_language"] = "en"
    return client


def test_every_model_is_registered():
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    assert set(MODELS) <= registered


def a_voted_battle() -> None:
    """A voted battle with its answers, an attempt, its vote and a ratings snapshot."""
    battle = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=battle, contender_a=battle.contender_a, contender_b=battle.contender_b, outcome="a")
    AnswerAttempt.objects.create(
        answer=battle.answer_a,
        number=1,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        outcome=AnswerAttempt.Outcome.SUCCEEDED,
        status_code=200,
        latency_ms=900,
    )
    ratings_refresh()


@pytest.mark.parametrize("label", MODELS)
def test_changelist_search_and_filters_work(staff, label):
    a_voted_battle()
    app_label, model_name = label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    page = staff.get(url)
    assert page.status_code == 200
    assert staff.get(url, {"q": "model"}).status_code == 200
    model = next(model for model in admin.site._registry if model._meta.label_lower == label)
    assert admin.site._registry[model].list_display != ("__str__",), f"{label} has no list columns"
    shown = page.context["cl"].result_list[0]
    change = staff.get(reverse(f"admin:{app_label}_{model_name}_change", args=[shown.pk]))
    assert change.status_code == 200


def test_the_admin_is_arenas_in_both_languages(staff):
    assert isinstance(admin.site, ArenaAdminSite)
    assert reverse("admin:index") == "/admin/"
    staff.cookies["arena_language"] = "zh-hans"
    chinese = staff.get("/admin/").content.decode()
    assert "<title>Arena 管理 | Arena 管理后台</title>" in chinese
    assert '<a href="/admin/">Arena 管理</a>' in chinese and "<h1>Arena 管理</h1>" in chinese
    staff.cookies["arena_language"] = "en"
    english = staff.get("/admin/").content.decode()
    assert "<title>Arena administration | Arena admin</title>" in english
    assert '<a href="/admin/">Arena administration</a>' in english
    for page in (chinese, english, Client().get("/admin/login/").content.decode()):
        assert "Django" not in page


def test_admin_requires_staff():
    response = Client().get(reverse("admin:battles_contender_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(("model_id", "expected"), [("ok", "OK in"), ("status_503", "HTTP 503")])
def test_test_endpoint_action_shows_the_result(staff, model_id, expected):

    with fault_server() as server:
        contender = ContenderFactory(name="Probe me", base_url=server.base_url, model_id=model_id)
        response = staff.post(
            reverse("admin:battles_contender_changelist"),
            {"action": "test_endpoint", "_selected_action": [contender.pk]},
            follow=True,
        )
        assert server.request_count(model_id) == 1
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1 and messages[0].startswith("Probe me: ") and expected in messages[0]
    assert Contender.objects.get(pk=contender.pk).consecutive_failures == 0  # a test is not a failure


def test_resume_action_clears_the_failure_pause(staff):
    contender = ContenderFactory(
        consecutive_failures=5,
        paused_until=timezone.now(),
        paused_at=timezone.now(),
        paused_reason="5 failures in a row; the last: HTTP 503",
        probes_failed=3,
        flaps=2,
        is_active=True,
    )
    staff.post(
        reverse("admin:battles_contender_changelist"),
        {"action": "resume", "_selected_action": [contender.pk]},
    )
    resumed = Contender.objects.get(pk=contender.pk)
    assert (resumed.consecutive_failures, resumed.paused_until, resumed.paused_at) == (0, None, None)
    assert (resumed.paused_reason, resumed.probes_failed, resumed.flaps) == ("", 0, 0)
    assert resumed.updated_at > contender.updated_at


def test_the_contender_list_says_why_a_contender_is_paused_and_when_the_next_probe_is(staff):
    ContenderFactory(
        name="Flaky",
        consecutive_failures=5,
        paused_until=timezone.now() + dt.timedelta(seconds=20),
        paused_reason="5 failures in a row; the last: HTTP 503 from http://models.test/v1/chat/completions",
    )
    page = staff.get(
        reverse("admin:battles_contender_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    # The summary in the list, the whole reason (with its last error) on hover.
    assert re.search(
        r'<span title="5 failures in a row; the last: HTTP 503 from http://models.test/v1/chat/completions">'
        r"paused after 5 failures in a row; next probe in (19|20) s</span>",
        page,
    )


def test_the_admin_warns_when_the_limit_is_above_the_servers_slots(staff):
    over = ContenderFactory(name="Eager", max_concurrent_requests=8, server_slots=4)
    fits = ContenderFactory(name="Modest", max_concurrent_requests=4, server_slots=4)
    listing = staff.get(
        reverse("admin:battles_contender_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "8 (server: 4) ⚠" in listing and "4 (server: 4)<" in listing

    def warnings(contender) -> list[str]:
        page = staff.get(
            reverse("admin:battles_contender_change", args=[contender.pk]), HTTP_ACCEPT_LANGUAGE="en"
        )
        return [str(message) for message in page.context["messages"]]

    assert warnings(over) == [
        "Eager may send 8 requests at once, but its server runs 4 at a time: the others wait in the "
        "server's queue, and their latency and time to first token include that wait. Lower the maximum "
        "concurrent requests to 4, or start the server with more slots."
    ]
    assert warnings(fits) == []


@pytest.mark.parametrize(
    "model", ["ratingsnapshot", "contenderrating", "paircount", "elorating", "ratingmatrix"]
)
def test_computed_ratings_are_shown_never_typed_in(staff, model):
    assert staff.get(f"/admin/ratings/{model}/").status_code == 200
    assert staff.get(f"/admin/ratings/{model}/add/").status_code == 403


def test_a_vote_is_a_record_not_edited_in_the_admin(staff):
    vote = VoteFactory(outcome="a")
    assert staff.get("/admin/battles/vote/add/").status_code == 403
    staff.post(f"/admin/battles/vote/{vote.pk}/change/", {"outcome": "b", "reason": ""})
    vote.refresh_from_db()
    assert vote.outcome == "a"


@pytest.mark.parametrize("model", ["storeoutage", "workerheartbeat", "periodictaskrun"])
def test_what_processes_report_is_shown_never_typed_in(staff, model):
    from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat

    now = timezone.now()
    StoreOutage.objects.create(store="cache", started_at=now, fallbacks={"rate limit": 3}, fallback_total=3)
    WorkerHeartbeat.objects.create(name="celery@host:1", pid=1, started_at=now, last_seen_at=now)
    PeriodicTaskRun.objects.create(task="battle_pool_refill_task", last_run_at=now, runs=1)
    page = staff.get(reverse(f"admin:arena_{model}_changelist"))
    assert page.status_code == 200 and len(page.context["cl"].result_list) == 1
    assert staff.get(reverse(f"admin:arena_{model}_add")).status_code == 403


@pytest.mark.django_db(transaction=True)  # the server is asked once the admin's transaction commits
def test_a_contender_added_in_the_admin_takes_its_servers_slots_as_its_limit(staff):
    with fault_server() as server:
        server.total_slots = 3
        fields = {
            "name": "tiny",
            "kind": "endpoint",
            "is_active": "on",
            "sampling_weight": "1.0",
            "base_url": server.base_url,
            "model_id": "ok",
            "extra_headers": "{}",
            "request_timeout_seconds": "",
            "max_concurrent_requests": "8",
            "stream": "on",
            "stream_usage": "on",
            "stop": "[]",
            "samples_per_question": "1",
            "extra_parameters": "{}",
        }
        response = staff.post(
            reverse("admin:battles_contender_add"), fields, follow=True, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 200, response.content
    contender = Contender.objects.get(name="tiny")
    assert (contender.server_slots, contender.max_concurrent_requests) == (3, 3)
    messages = [str(message) for message in response.context["messages"]]
    assert any("runs 3 requests at once" in message for message in messages), messages


def test_the_contender_list_deactivates_a_contender_in_place(staff):
    contender = ContenderFactory(name="Listed", is_active=True, consecutive_failures=2)
    other = ContenderFactory(name="Kept", is_active=True)
    response = staff.post(
        reverse("admin:battles_contender_changelist"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(contender.pk),
            "form-1-id": str(other.pk),
            "form-1-is_active": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content
    saved = Contender.objects.get(pk=contender.pk)
    assert (saved.is_active, saved.consecutive_failures) == (False, 2)
    assert saved.updated_at > contender.updated_at
    assert Contender.objects.get(pk=other.pk).updated_at == other.updated_at  # unchanged, not saved


def test_questions_are_turned_off_and_on_from_the_list(staff):
    first, second = QuestionFactory(), QuestionFactory()
    changelist = reverse("admin:battles_question_changelist")
    staff.post(changelist, {"action": "deactivate", "_selected_action": [first.pk, second.pk]})
    assert list(
        Question.objects.filter(pk__in=[first.pk, second.pk]).values_list("is_active", flat=True)
    ) == [
        False,
        False,
    ]
    staff.post(changelist, {"action": "activate", "_selected_action": [first.pk]})
    assert Question.objects.get(pk=first.pk).is_active and not Question.objects.get(pk=second.pk).is_active


MADE_BY_THE_ARENA = [
    *["battles.answer", "battles.answerattempt", "battles.battle", "battles.vote", "battles.voter"],
    *["ratings.ratingsnapshot", "ratings.contenderrating", "ratings.paircount", "ratings.elorating"],
    *["ratings.ratingsstate", "ratings.ratingmatrix"],
    *["arena.storeoutage", "arena.workerheartbeat", "arena.periodictaskrun", "arena.loginattempt"],
]


@pytest.mark.parametrize("label", MADE_BY_THE_ARENA)
def test_rows_the_arena_makes_are_shown_never_added_or_edited(staff, label):
    from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat

    a_voted_battle()
    now = timezone.now()
    StoreOutage.objects.create(store="cache", started_at=now, last_error="ConnectionError: refused")
    WorkerHeartbeat.objects.create(name="celery@host:1", pid=1, started_at=now, last_seen_at=now)
    PeriodicTaskRun.objects.create(task="battle_pool_refill_task", last_run_at=now, runs=1)
    Client(REMOTE_ADDR="198.51.100.1").post("/admin/login/", {"username": "root", "password": "a-guess"})
    app_label, model_name = label.split(".")
    listing = staff.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert listing.status_code == 200
    assert reverse(f"admin:{app_label}_{model_name}_add") not in listing.content.decode()  # no Add button
    assert staff.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403
    row = listing.context["cl"].result_list[0]
    change_url = reverse(f"admin:{app_label}_{model_name}_change", args=[row.pk])
    page = staff.get(change_url)
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.content.decode()
    assert staff.post(change_url, {}).status_code == 403


@pytest.mark.parametrize("label", ["battles.category", "battles.question", "battles.contender"])
def test_the_bank_and_the_contenders_are_added_and_edited_by_staff(staff, label):
    app_label, model_name = label.split(".")
    listing = staff.get(reverse(f"admin:{app_label}_{model_name}_changelist")).content.decode()
    assert reverse(f"admin:{app_label}_{model_name}_add") in listing
    page = staff.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()


def test_a_category_is_added_in_the_admin(staff):
    response = staff.post(reverse("admin:battles_category_add"), {"code": "MATH", "name": "数学"})
    assert response.status_code == 302, response.content
    assert Category.objects.get(code="MATH").name == "数学"


def test_staff_leave_votes_out_and_restore_them_and_the_boards_are_recounted(staff):
    from battles.models import Vote
    from ratings.models import RatingSnapshot
    from ratings.services import ratings_refresh_locked
    from tests.factories import ContenderFactory, VoteFactory

    alpha, beta = ContenderFactory(name="alpha"), ContenderFactory(name="beta")
    kept = VoteFactory(contender_a=alpha, contender_b=beta, outcome="a")
    doubtful = [VoteFactory(contender_a=alpha, contender_b=beta, outcome="b") for _ in range(3)]
    ratings_refresh_locked()
    changelist = "/admin/battles/vote/"
    selected = [vote.pk for vote in doubtful]
    page = staff.post(changelist, {"action": "leave_out", "_selected_action": selected}, follow=True)
    assert "3 votes left out" in page.content.decode()
    assert set(Vote.objects.filter(pk__in=selected).values_list("excluded_reasons", flat=True)) == {"staff"}
    assert ratings_refresh_locked().vote_count == 1
    listed = staff.get(changelist, {"counted": "no"}).content.decode()
    assert "left out by staff" in listed and f"#{kept.pk}" not in listed
    page = staff.post(changelist, {"action": "restore", "_selected_action": selected}, follow=True)
    assert "3 votes restored" in page.content.decode()
    assert ratings_refresh_locked().vote_count == 4
    assert RatingSnapshot.objects.filter(category__isnull=True).latest("id").vote_count == 4
