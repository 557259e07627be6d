"""The public, read-only API: leaderboards, history, matrices, contenders, questions, voted battles."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client, override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from arena.db.times import as_utc
from battles.models import Battle
from ratings.serializers import LeaderboardSerializer, leaderboard_data
from ratings.services import ratings_refresh
from tests.factories import (
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)

pytestmark = pytest.mark.django_db


def board():
    category = CategoryFactory(code="CODE")
    first, second, third = (
        ContenderFactory(
            name=name,
            base_url="http://secret-host:8000/v1",
            model_id="m",
            api_key_env="SECRET_API_KEY",
            extra_headers={"X-Key": "${SECRET_API_KEY}"},
        )
        for name in ("first", "second", "third")
    )
    for _ in range(5):
        VoteFactory(contender_a=first, contender_b=second, outcome="a", category=category)
        VoteFactory(contender_a=second, contender_b=third, outcome="a")
    return ratings_refresh(), ratings_refresh(category=category), (first, second, third)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "fields"}
    assert (body["error"]["status"], body["error"]["code"]) == (status, code)
    assert body["error"]["message"]


EMPTY_SNAPSHOT = {
    "id": None,
    "created_at": None,
    "category": None,
    "vote_count": 0,
    "last_vote_at": None,
    "duration_ms": None,
    "vote_lag_ms": None,
    "flags": [],
    "parameters": {},
}


def test_before_any_snapshot_a_board_is_empty_not_missing(api, django_assert_num_queries):
    with django_assert_num_queries(1):  # the latest snapshot, of which there is none
        response = api.get("/api/v1/leaderboard/")
    assert response.status_code == 200
    assert response.json() == {"snapshot": EMPTY_SNAPSHOT, "board": "raw", "ratings": []}
    assert response["ETag"] == '"board-empty"' and "Last-Modified" not in response
    again = api.get("/api/v1/leaderboard/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""
    matrices = api.get("/api/v1/leaderboard/matrices/")
    assert (matrices.status_code, matrices["ETag"]) == (200, '"board-empty"')
    assert matrices.json() == {
        "snapshot": EMPTY_SNAPSHOT,
        "contenders": [],
        "battle_counts": [],
        "win_rates": [],
        "predicted_win_rates": [],
    }
    assert api.get("/api/v1/leaderboard/matrices/", HTTP_IF_NONE_MATCH='"board-empty"').status_code == 304


def test_an_existing_category_without_a_snapshot_is_an_empty_board_an_unknown_one_404(api):
    board()  # snapshots of all categories and of CODE
    CategoryFactory(code="NEW")
    new = {"code": "NEW", "name": "Category NEW"}
    body = {"snapshot": {**EMPTY_SNAPSHOT, "category": new}, "board": "raw", "ratings": []}
    assert api.get("/api/v1/leaderboard/", {"category": "NEW"}).json() == body
    matrices = api.get("/api/v1/leaderboard/matrices/", {"category": "NEW"}).json()
    assert matrices["snapshot"] == body["snapshot"] and matrices["contenders"] == []
    assert_error(api.get("/api/v1/leaderboard/", {"category": "NOPE"}), 404, "not_found")
    assert_error(api.get("/api/v1/leaderboard/matrices/", {"category": "NOPE"}), 404, "not_found")
    assert_error(api.get("/api/v1/leaderboard/", {"snapshot": 999999}), 404, "not_found")
    assert_error(api.get("/api/v1/leaderboard/matrices/", {"snapshot": 999999}), 404, "not_found")


def test_the_first_snapshot_changes_the_empty_boards_tag(api):
    empty = api.get("/api/v1/leaderboard/")
    VoteFactory()
    first = ratings_refresh()
    polled = api.get("/api/v1/leaderboard/", HTTP_IF_NONE_MATCH=empty["ETag"])
    assert polled.status_code == 200 and polled.json()["snapshot"]["id"] == first.pk
    assert polled["ETag"].startswith(f'"snapshot-{first.pk}-') and len(polled.json()["ratings"]) == 2
    # The empty board has the shape of a full one.
    assert set(polled.json()["snapshot"]) == set(EMPTY_SNAPSHOT)


def test_leaderboard_latest_by_category_and_by_snapshot(api):
    overall, code_board, _ = board()
    body = api.get("/api/v1/leaderboard/").json()
    assert body["snapshot"]["id"] == overall.pk and body["snapshot"]["vote_count"] == 10
    assert body["snapshot"]["category"] is None
    assert [row["contender"]["name"] for row in body["ratings"]] == ["first", "second", "third"]
    row = body["ratings"][0]
    assert set(row) == {
        "rank",
        "contender",
        "bt_rating",
        "ci_low",
        "ci_high",
        "sandwich_low",
        "sandwich_high",
        "elo",
        "win_rate",
        "wins",
        "losses",
        "ties",
        "both_bad",
        "votes",
        "preliminary",
        "retired",
        "rank_worst",
        "robust_votes",
        "style_rank",
        "style_rank_worst",
        "style_rating",
        "style_low",
        "style_high",
        "sampling_half_width",
        "sampling_share",
        "mle_rating",
        "mle_low",
        "mle_high",
    }
    assert (row["wins"], row["losses"], row["votes"], row["win_rate"], row["preliminary"]) == (
        5,
        0,
        5,
        1.0,
        True,
    )
    coded = api.get("/api/v1/leaderboard/", {"category": "CODE"}).json()
    assert coded["snapshot"]["id"] == code_board.pk and coded["snapshot"]["category"] == {
        "code": "CODE",
        "name": "Category CODE",
    }
    assert {row["contender"]["name"] for row in coded["ratings"]} == {"first", "second"}
    assert (
        api.get("/api/v1/leaderboard/", {"snapshot": code_board.pk}).json()["snapshot"]["id"] == code_board.pk
    )
    assert_error(api.get("/api/v1/leaderboard/", {"category": "NOPE"}), 404, "not_found")
    assert_error(api.get("/api/v1/leaderboard/", {"snapshot": "x"}), 400, "invalid")
    assert_error(api.get("/api/v1/leaderboard/", {"snapshot": 999999}), 404, "not_found")


def test_leaderboard_can_be_polled_cheaply(api):
    overall, _, (first_contender, _, _) = board()
    first = api.get("/api/v1/leaderboard/")
    tag = first["ETag"]
    assert tag.startswith(f'"snapshot-{overall.pk}-') and first["Last-Modified"]
    for if_none_match in (tag, f"W/{tag}", f'"something-else", {tag}', "*"):
        again = api.get("/api/v1/leaderboard/", HTTP_IF_NONE_MATCH=if_none_match)
        assert again.status_code == 304 and again.content == b"", if_none_match
    since = api.get("/api/v1/leaderboard/", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert since.status_code == 304
    # A renamed contender changes the body, so the tag changes although the snapshot does not.
    first_contender.name = "first, renamed"
    first_contender.save()
    renamed = api.get("/api/v1/leaderboard/", HTTP_IF_NONE_MATCH=tag)
    assert renamed.status_code == 200 and renamed["ETag"] != tag
    assert "first, renamed" in {row["contender"]["name"] for row in renamed.json()["ratings"]}
    VoteFactory()
    newer = ratings_refresh()
    changed = api.get("/api/v1/leaderboard/", HTTP_IF_NONE_MATCH=renamed["ETag"])
    assert changed.status_code == 200 and changed["ETag"].startswith(f'"snapshot-{newer.pk}-')


def test_a_snapshot_of_another_category_is_refused(api):
    overall, code_board, _ = board()
    assert api.get("/api/v1/leaderboard/", {"snapshot": code_board.pk, "category": "CODE"}).status_code == 200
    assert_error(
        api.get("/api/v1/leaderboard/", {"snapshot": overall.pk, "category": "CODE"}), 400, "invalid"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/questions/?page_size=%C2%B2",
        "/api/v1/votes/export/?after=%C2%B2",
        "/api/v1/votes/export/?limit=%C2%B3",
        "/api/v1/battles/?contender=%C2%B2",
        "/api/v1/battles/?contender=",
        "/api/v1/questions/?page_size=",
        "/api/v1/leaderboard/?snapshot=%C2%B9",
        "/api/v1/leaderboard/?snapshot=",
    ],
)
def test_odd_numbers_are_refused_in_the_error_shape(api, path):
    board()
    assert_error(api.get(path), 400, "invalid")


def test_snapshot_history_and_one_snapshot(api):
    overall, code_board, _ = board()
    later = ratings_refresh(force=True)
    history = api.get("/api/v1/snapshots/").json()
    assert [item["id"] for item in history["results"]] == [later.pk, overall.pk]
    assert history["next"] is None and "parameters" in history["results"][0]
    assert [item["id"] for item in api.get("/api/v1/snapshots/", {"category": "CODE"}).json()["results"]] == [
        code_board.pk
    ]
    detail = api.get(f"/api/v1/snapshots/{overall.pk}/").json()
    assert detail["snapshot"]["id"] == overall.pk and len(detail["ratings"]) == 3
    assert_error(api.get("/api/v1/snapshots/999999/"), 404, "not_found")


def test_matrices(api):
    board()
    body = api.get("/api/v1/leaderboard/matrices/").json()
    names = [contender["name"] for contender in body["contenders"]]
    index = {name: position for position, name in enumerate(names)}
    assert set(names) == {"first", "second", "third"}
    assert body["battle_counts"][index["first"]][index["second"]] == 5
    assert body["win_rates"][index["first"]][index["second"]] == 1.0
    assert body["win_rates"][index["first"]][index["third"]] is None
    assert body["predicted_win_rates"][index["first"]][index["third"]] > 0.99  # transitive: never met
    assert api.get("/api/v1/leaderboard/matrices/", {"board": "raw"}).json() == body
    assert api.get("/api/v1/leaderboard/matrices/", {"board": ""}).status_code == 400  # as the leaderboard
    assert api.get("/api/v1/leaderboard/", {"board": ""}).status_code == 400
    assert api.get("/api/v1/leaderboard/", {"retired": ""}).status_code == 400  # a boolean, not given
    for other in ("style", "judge"):
        refused = api.get("/api/v1/leaderboard/matrices/", {"board": other})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith("matrices are kept for the raw board only")


def test_contenders_show_public_fields_only(api, django_assert_num_queries):
    board()
    with django_assert_num_queries(1):
        body = api.get("/api/v1/contenders/").json()
    assert [item["name"] for item in body] == ["first", "second", "third"]
    for item in body:
        assert set(item) == {"id", "name", "kind", "description", "is_active", "created_at"}
    text = api.get(f"/api/v1/contenders/{body[0]['id']}/").content.decode()
    for secret in ("secret-host", "SECRET_API_KEY", "X-Key", "model_id", "base_url"):
        assert secret not in text


def test_questions_are_the_active_ones(api, django_assert_num_queries):
    QuestionFactory(text="Shown?", language="en")
    QuestionFactory(text="Hidden?", is_active=False)
    QuestionFactory(text="显示？", language="zh")
    with django_assert_num_queries(1):
        body = api.get("/api/v1/questions/").json()
    assert [item["text"] for item in body["results"]] == ["显示？", "Shown?"]
    assert [item["text"] for item in api.get("/api/v1/questions/", {"language": "zh"}).json()["results"]] == [
        "显示？"
    ]


def test_only_voted_battles_are_public(api, django_assert_num_queries):
    voted = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=voted, contender_a=voted.contender_a, contender_b=voted.contender_b, outcome="tie")
    hidden = [
        BattleFactory(),  # ready
        BattleFactory(status=Battle.Status.SERVED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z"),
        BattleFactory(status=Battle.Status.GENERATING, ready_at=None),
        BattleFactory(status=Battle.Status.RETIRED),
    ]
    with django_assert_num_queries(1):
        body = api.get("/api/v1/battles/").json()
    assert [item["id"] for item in body["results"]] == [voted.pk]
    item = body["results"][0]
    assert item["outcome"] == "tie" and item["contender_a"]["name"] == voted.contender_a.name
    assert item["question"]["text"] == voted.question.text
    # Next to the names, the answers' texts are for staff only: anyone else would recognise them later.
    assert item["answer_a"] is None and item["answer_b"] is None
    for battle in hidden:
        assert_error(api.get(f"/api/v1/battles/{battle.pk}/"), 404, "not_found")
    assert api.get(f"/api/v1/battles/{voted.pk}/").json()["id"] == voted.pk
    by_contender = api.get("/api/v1/battles/", {"contender": voted.contender_b_id}).json()["results"]
    assert [item["id"] for item in by_contender] == [voted.pk]
    assert api.get("/api/v1/battles/", {"contender": hidden[0].contender_a_id}).json()["results"] == []


def test_a_voted_battle_stays_hidden_while_one_of_its_answers_is_in_an_open_battle(api):
    voted = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=voted, contender_a=voted.contender_a, contender_b=voted.contender_b, outcome="a")
    # The same answer of contender A, now on side B of a battle someone is looking at.
    open_battle = BattleFactory(
        question=voted.question,
        contender_b=voted.contender_a,
        answer_b=voted.answer_a,
        status=Battle.Status.SERVED,
        voter=VoterFactory(),
        served_at="2026-01-02T00:00:00Z",
    )
    assert api.get("/api/v1/battles/").json()["results"] == []
    assert_error(api.get(f"/api/v1/battles/{voted.pk}/"), 404, "not_found")
    open_battle.status = Battle.Status.RETIRED
    open_battle.save()
    assert [item["id"] for item in api.get("/api/v1/battles/").json()["results"]] == [voted.pk]


def test_list_endpoints_page_with_cursors(api):
    for number in range(7):
        QuestionFactory(text=f"Q{number}?")
    first = api.get("/api/v1/questions/", {"page_size": 3}).json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    texts = [item["text"] for page in (first, second, third) for item in page["results"]]
    assert texts == [f"Q{number}?" for number in reversed(range(7))] and third["next"] is None


def test_anonymous_clients_are_throttled(api, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/min"})
    for _ in range(3):
        assert api.get("/api/v1/contenders/").status_code == 200
    response = api.get("/api/v1/contenders/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # A client cannot claim another address: X-Forwarded-For counts only behind a trusted proxy.
    assert api.get("/api/v1/contenders/", HTTP_X_FORWARDED_FOR="203.0.113.77").status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_rate(api, monkeypatch, settings):
    settings.ARENA_TRUST_X_FORWARDED_FOR = True
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min"})
    for _ in range(2):
        assert api.get("/api/v1/contenders/", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
    assert api.get("/api/v1/contenders/", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert api.get("/api/v1/contenders/", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200


def test_leaderboard_and_history_queries_do_not_grow_with_the_board(api, django_assert_num_queries):
    _, _, (first, _, _) = board()
    for number in range(20):
        VoteFactory(contender_a=ContenderFactory(name=f"extra-{number}"), contender_b=first, outcome="tie")
    ratings_refresh()
    ratings_refresh(force=True)
    # The snapshot, the latest contender change (for the ETag), then the rows with their contenders:
    # whatever the number of contenders.
    with django_assert_num_queries(3):
        body = api.get("/api/v1/leaderboard/").json()
    assert len(body["ratings"]) == 23
    with django_assert_num_queries(3):  # the snapshot, its matrices, the contenders named in them
        api.get("/api/v1/leaderboard/matrices/")
    # A page of snapshots: one query (the cursor page), however many snapshots.
    with django_assert_num_queries(1):
        history = api.get("/api/v1/snapshots/").json()
    assert len(history["results"]) == 3


def test_the_fast_leaderboard_body_is_what_the_serializer_gives(api):
    overall, _, _ = board()
    rows = list(overall.ratings.select_related("contender").order_by("rank", "-bt_rating", "contender__name"))
    expected = LeaderboardSerializer({"snapshot": overall, "board": "raw", "ratings": rows}).data
    assert leaderboard_data(overall) == expected
    assert api.get("/api/v1/leaderboard/").json() == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))


@override_settings(ROOT_URLCONF="tests.database_errors_urls")
def test_an_unexpected_failure_under_the_api_still_has_the_error_shape():
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/broken/")  # a view that raises what nobody expected
    assert_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    site = Client(raise_request_exception=False)
    page = site.get("/broken/")
    assert page.status_code == 500 and "Server error" in page.content.decode()


def test_an_arena_can_keep_its_battles_unpublished(api, settings):
    settings.ARENA_API_PUBLIC_BATTLES = False
    voted = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=voted, contender_a=voted.contender_a, contender_b=voted.contender_b, outcome="a")
    assert_error(api.get("/api/v1/battles/"), 404, "not_found")
    assert_error(api.get(f"/api/v1/battles/{voted.pk}/"), 404, "not_found")


def test_staff_read_the_answers_of_voted_battles_and_everyone_may_when_the_arena_says_so(
    api, staff_api, settings
):
    voted = BattleFactory(status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z")
    VoteFactory(battle=voted, contender_a=voted.contender_a, contender_b=voted.contender_b, outcome="a")
    item = staff_api.get(f"/api/v1/battles/{voted.pk}/").json()
    assert item["answer_a"] == {"text": voted.answer_a.text, "html": voted.answer_a.html}
    assert staff_api.get("/api/v1/battles/").json()["results"][0]["answer_b"]["text"] == voted.answer_b.text
    assert api.get(f"/api/v1/battles/{voted.pk}/").json()["answer_a"] is None
    settings.ARENA_API_PUBLIC_ANSWERS = True
    assert api.get(f"/api/v1/battles/{voted.pk}/").json()["answer_a"]["text"] == voted.answer_a.text


def test_export_times_carry_their_zone_whatever_the_database_gives():
    """PostgreSQL's raw rows carry the zone; SQLite's (the embedded mode) are the stored UTC time
    without one: the exports write both with +00:00."""
    naive = datetime(2026, 12, 5, 20, 50, 15, 5704)
    assert as_utc(naive).isoformat() == "2026-12-05T20:50:15.005704+00:00"
    aware = datetime(2026, 12, 5, 21, 50, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(aware) is aware
