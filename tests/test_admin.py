import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from battles.models import Battle, Vote
from ratings.services import ratings_refresh
from tests.factories import BattleFactory, VoterFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "battles.category",
    "battles.question",
    "battles.contender",
    "battles.answer",
    "battles.battle",
    "battles.voter",
    "battles.vote",
    "ratings.ratingsnapshot",
    "ratings.contenderrating",
]


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.org", "a-long-password")
    client = Client()
    client.force_login(user)
    return client


def test_every_model_is_registered():
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    assert set(MODELS) <= registered


@pytest.mark.parametrize("label", MODELS)
def test_changelist_search_and_filters_work(staff, label):
    battle = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    Vote.objects.create(
        battle=battle, contender_a=battle.contender_a, contender_b=battle.contender_b, outcome="a"
    )
    ratings_refresh()
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


def test_admin_requires_staff():
    response = Client().get(reverse("admin:battles_contender_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
