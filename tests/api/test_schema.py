"""The OpenAPI schema: committed and current, served with a self-hosted Swagger UI, and honoured by the
API (schemathesis generates requests from it and checks every response against it)."""

from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, settings

from arena.wsgi import application
from battles.models import Battle
from ratings.services import ratings_refresh
from tests.factories import (
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_committed_schema_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--lang", "en", "--file", str(generated), "--validate")
    assert generated.read_text() == (ROOT / "openapi.yaml").read_text(), "the API changed: run make schema"


@pytest.mark.django_db
def test_swagger_ui_is_served_from_the_project_itself():
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html and "jsdelivr" not in html
    assert Client().get("/api/v1/schema/").status_code == 200


schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?lang=en", application)


@schema.hook
def map_query(context, query):
    """A cursor is a token the API signs for its list: any other is refused with 400 invalid_cursor
    (tests/api/test_bad_input.py), and no schema can generate a signed one, so lists page from the start."""
    if query:
        query.pop("cursor", None)
    return query


@pytest.fixture
def arena_with_data(db):
    code = CategoryFactory(code="CODE")
    contenders = [ContenderFactory(name=f"model-{number}") for number in range(3)]
    for number in range(6):
        VoteFactory(
            contender_a=contenders[number % 3], contender_b=contenders[(number + 1) % 3], category=code
        )
    voted = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=voted, contender_a=voted.contender_a, contender_b=voted.contender_b, outcome="b")
    BattleFactory.create_batch(3)
    QuestionFactory.create_batch(3)
    ratings_refresh()
    ratings_refresh(category=code)


@pytest.mark.django_db(transaction=True)
@schema.exclude(path_regex="^/api/v1/staff/").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema(case, arena_with_data):
    """No server error, and every response matches the schema, whatever schemathesis sends."""
    case.call_and_validate()


def test_the_docs_group_operations_and_ask_each_for_its_own_credentials():
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert [tag["name"] for tag in document["tags"]] == ["results", "voting", "staff"]
    assert document["components"]["securitySchemes"]["voterToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Arena-Voter",
        "description": document["components"]["securitySchemes"]["voterToken"]["description"],
    }
    seen = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            (tag,) = operation["tags"]
            seen[f"{method.upper()} {path}"] = (tag, operation["security"])
    assert seen["GET /api/v1/leaderboard/"] == ("results", [])  # public: no padlock
    assert seen["POST /api/v1/battles/next/"] == ("voting", [{"voterToken": []}, {}])  # optional token
    assert seen["POST /api/v1/battles/{id}/vote/"] == ("voting", [{"voterToken": []}, {}])
    assert seen["PATCH /api/v1/staff/contenders/{id}/"] == ("staff", [{"tokenAuth": []}])
    assert {tag for tag, _ in seen.values()} == {"results", "voting", "staff"}
    assert all(security == [] for tag, security in seen.values() if tag == "results")
    # Only the methods that exist: a contender is changed with PATCH, never replaced with PUT.
    assert not any(key.startswith("PUT ") for key in seen)


def test_a_contender_is_not_replaced_with_put(staff_api):
    contender = ContenderFactory()
    url = f"/api/v1/staff/contenders/{contender.pk}/"
    assert staff_api.put(url, {}, format="json").status_code == 405
    assert staff_api.patch(url, {"description": "changed"}, format="json").status_code == 200
