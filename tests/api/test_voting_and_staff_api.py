"""Voting through the API with the web page's rules; exports; staff operations with a token."""

import csv
import datetime as dt
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from battles.models import Battle, Contender, Question, Vote
from tests.factories import BattleFactory, CategoryFactory, ContenderFactory, VoteFactory, VoterFactory
from tests.fault_server import fault_server

pytestmark = pytest.mark.django_db


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert (response.json()["error"]["status"], response.json()["error"]["code"]) == (status, code)


def test_vote_through_the_api(api):
    battle = BattleFactory(contender_a__name="Alpha", contender_b__name="Beta")
    served = api.post("/api/v1/battles/next/")
    body = served.json()
    assert served.status_code == 200 and body["status"] == "ready" and body["battle"]["id"] == battle.pk
    assert "Alpha" not in served.content.decode()  # names hidden until the vote
    token = body["voter_token"]
    again = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()
    assert again["battle"]["id"] == battle.pk  # the same battle until voted

    cast = api.post(
        f"/api/v1/battles/{battle.pk}/vote/",
        {"outcome": "b", "reason": "clearer"},
        format="json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert cast.status_code == 201
    assert cast.json()["contender_b"]["name"] == "Beta" and cast.json()["outcome"] == "b"
    assert cast.json()["reason"] == "clearer"
    repeat = api.post(
        f"/api/v1/battles/{battle.pk}/vote/", {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER=token
    )
    assert repeat.status_code == 200 and repeat.json()["outcome"] == "b"
    assert Vote.objects.count() == 1
    waiting = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token)
    assert waiting.json()["status"] == "preparing" and waiting["Retry-After"] == "2"


def test_the_api_keeps_the_web_pages_rules(api, settings):
    battle = BattleFactory()
    token = api.post("/api/v1/battles/next/").json()["voter_token"]
    other = api.post("/api/v1/battles/next/").json()["voter_token"]
    vote = f"/api/v1/battles/{battle.pk}/vote/"
    assert_error(api.post(vote, {"outcome": "a"}, format="json"), 403, "voter_token_missing")
    assert_error(
        api.post(vote, {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER="forged"),
        403,
        "invalid_voter_token",
    )
    assert_error(
        api.post(vote, {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER=other), 403, "not_served_to_voter"
    )
    assert_error(
        api.post(vote, {"outcome": "maybe"}, format="json", HTTP_X_ARENA_VOTER=token), 400, "invalid"
    )
    settings.ARENA_VOTE_MIN_SECONDS = 60
    early = api.post(vote, {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER=token)
    assert_error(early, 409, "too_early")
    assert int(early["Retry-After"]) >= 59
    settings.ARENA_VOTE_MIN_SECONDS = 0
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 0
    assert_error(api.post(vote, {"outcome": "a"}, format="json", HTTP_X_ARENA_VOTER=token), 429, "voter_rate")
    assert not Vote.objects.exists()
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.SERVED


def export_data():
    code = CategoryFactory(code="CODE")
    first, second = ContenderFactory(name="first"), ContenderFactory(name="second")
    times = [dt.datetime(2026, 5, day, tzinfo=dt.UTC) for day in (1, 2, 3, 4)]
    votes = [
        VoteFactory(
            contender_a=first,
            contender_b=second,
            outcome="a",
            category=code,
            created_at=times[0],
            language="en",
        ),
        VoteFactory(contender_a=second, contender_b=first, outcome="tie", created_at=times[1]),
        VoteFactory(
            contender_a=first,
            contender_b=ContenderFactory(name="third"),
            outcome="both_bad",
            created_at=times[2],
        ),
        VoteFactory(contender_a=second, contender_b=first, outcome="b", category=code, created_at=times[3]),
    ]
    return votes, (first, second)


def streamed(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def test_export_as_json_lines_csv_and_battle_log(api):
    votes, _ = export_data()
    lines = [json.loads(line) for line in streamed(api.get("/api/v1/votes/export/")).splitlines()]
    assert lines[0] == {
        "id": votes[0].pk,
        "time": "2026-05-01T00:00:00+00:00",
        "contender_a": "first",
        "contender_b": "second",
        "outcome": "a",
        "category": "CODE",
        "language": "en",
    }
    assert [line["outcome"] for line in lines] == ["a", "tie", "both_bad", "b"]
    rows = list(csv.reader(io.StringIO(streamed(api.get("/api/v1/votes/export/", {"format": "csv"})))))
    assert rows[0] == ["id", "time", "contender_a", "contender_b", "outcome", "category", "language"]
    assert rows[2][2:5] == ["second", "first", "tie"] and len(rows) == 5
    battles = json.loads(streamed(api.get("/api/v1/votes/export/", {"format": "clean_battle"})))
    assert [battle["winner"] for battle in battles] == ["model_a", "tie", "tie (bothbad)", "model_b"]
    assert battles[0]["tstamp"] == dt.datetime(2026, 5, 1, tzinfo=dt.UTC).timestamp()


def test_export_filters_and_cursor(api):
    votes, _ = export_data()

    def ids(**query) -> list[int]:
        return [
            json.loads(line)["id"] for line in streamed(api.get("/api/v1/votes/export/", query)).splitlines()
        ]

    assert ids(category="CODE") == [votes[0].pk, votes[3].pk]
    assert ids(since="2026-05-02T00:00:00Z", until="2026-05-04T00:00:00Z") == [votes[1].pk, votes[2].pk]
    assert ids(contender=Contender.objects.get(name="third").pk) == [votes[2].pk]
    page = api.get("/api/v1/votes/export/", {"limit": 3})
    assert [json.loads(line)["id"] for line in streamed(page).splitlines()] == [vote.pk for vote in votes[:3]]
    assert page["X-Next-Cursor"] == str(votes[2].pk) and 'rel="next"' in page["Link"]
    rest = api.get("/api/v1/votes/export/", {"limit": 3, "after": page["X-Next-Cursor"]})
    assert [json.loads(line)["id"] for line in streamed(rest).splitlines()] == [votes[3].pk]
    assert "X-Next-Cursor" not in rest
    for query, name in [
        ({"format": "xml"}, "format"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
    ]:
        response = api.get("/api/v1/votes/export/", query)
        assert_error(response, 400, "invalid")
        assert name in response.json()["error"]["message"]


def test_staff_endpoints_need_a_staff_token(api):
    assert_error(api.get("/api/v1/staff/contenders/"), 401, "not_authenticated")
    user = get_user_model().objects.create_user("voter", password="a-long-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert_error(client.get("/api/v1/staff/contenders/"), 403, "permission_denied")
    assert_error(client.post("/api/v1/staff/ratings/refresh/"), 403, "permission_denied")


def test_staff_register_edit_pause_and_resume_a_contender(staff_api):
    created = staff_api.post(
        "/api/v1/staff/contenders/",
        {
            "name": "Qwen",
            "base_url": "http://gpu-1:8000/v1",
            "model_id": "qwen",
            "api_key_env": "QWEN_API_KEY",
            "temperature": 0.7,
            "max_concurrent_requests": 16,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    contender_id = created.json()["id"]
    assert created.json()["api_key_env"] == "QWEN_API_KEY" and created.json()["max_concurrent_requests"] == 16
    changed = staff_api.patch(
        f"/api/v1/staff/contenders/{contender_id}/", {"temperature": 0.2}, format="json"
    )
    assert changed.json()["temperature"] == 0.2 and changed.json()["model_id"] == "qwen"
    assert staff_api.post(f"/api/v1/staff/contenders/{contender_id}/pause/").json()["is_active"] is False
    assert staff_api.post(f"/api/v1/staff/contenders/{contender_id}/resume/").json()["is_active"] is True
    assert Contender.objects.get(pk=contender_id).temperature == 0.2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "base_url": "ftp://h", "model_id": "m"}, "base_url"),
        (
            {"name": "x", "base_url": "http://h/v1", "model_id": "m", "api_key_env": "SECRET_KEY"},
            "api_key_env",
        ),
        ({"name": "x", "base_url": "http://h/v1", "model_id": "m", "temperature": 5}, "temperature"),
        ({"name": "x", "base_url": "http://h/v1", "model_id": "m", "extra_headers": "x"}, "extra_headers"),
        (
            {"name": "x", "base_url": "http://h/v1", "model_id": "m", "extra_headers": {"X": 1}},
            "extra_headers",
        ),
        ({"name": "x", "base_url": "http://h/v1", "model_id": "m", "stop": {"a": 1}}, "stop"),
        ({"name": "x", "base_url": "http://h/v1", "model_id": "m", "stop": "</s>"}, "stop"),
        (
            {"name": "x", "base_url": "http://h/v1", "model_id": "m", "extra_parameters": [1]},
            "extra_parameters",
        ),
    ],
)
def test_staff_invalid_contender_is_refused_with_the_field(staff_api, body, field):
    response = staff_api.post("/api/v1/staff/contenders/", body, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["error"]["fields"] or field in response.json()["error"]["message"]
    assert not Contender.objects.exists()


def test_staff_import_questions_and_refresh(staff_api):
    bank = "\n".join(json.dumps({"text": text, "category": "QA"}) for text in ["What is rain?", "什么是雨？"])
    response = staff_api.post(
        "/api/v1/staff/questions/import/",
        {"file": SimpleUploadedFile("bank.jsonl", bank.encode()), "dry_run": False},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    assert response.json()["questions_created"] == 2 and Question.objects.count() == 2
    bad = staff_api.post(
        "/api/v1/staff/questions/import/",
        {"file": SimpleUploadedFile("bad.jsonl", b'{"text": ""}\n')},
        format="multipart",
    )
    assert_error(bad, 400, "import_rejected")
    assert "bad.jsonl:1" in bad.json()["error"]["message"]
    assert staff_api.post("/api/v1/staff/ratings/refresh/").status_code == 202


def test_battle_log_judges_are_voter_pseudonyms_and_csv_cells_never_run_as_formulas(api):
    votes, (first, _) = export_data()
    first.name = '=HYPERLINK("http://evil.example","x")'
    first.save()
    voter = VoterFactory()
    Vote.objects.filter(pk__in=[votes[0].pk, votes[1].pk]).update(voter=voter)
    Vote.objects.filter(pk=votes[2].pk).update(voter=None)
    battles = json.loads(streamed(api.get("/api/v1/votes/export/", {"format": "clean_battle"})))
    judges = [battle["judge"] for battle in battles]
    assert judges[0] == judges[1] != judges[3] and judges[2] == "arena_import"
    assert judges[0].startswith("arena_user_") and str(voter.pk) not in judges[0]
    rows = list(csv.reader(io.StringIO(streamed(api.get("/api/v1/votes/export/", {"format": "csv"})))))
    assert rows[1][2] == "'" + first.name
    lines = [json.loads(line) for line in streamed(api.get("/api/v1/votes/export/")).splitlines()]
    assert lines[0]["contender_a"] == first.name  # JSON is data, not a spreadsheet: as written


def test_json_lines_are_exactly_what_json_dumps_writes(api):
    odd = ContenderFactory(name='quote " back\\slash 中文 🙂 \u2028 tab\t')
    other = ContenderFactory(name="plain")
    VoteFactory(
        contender_a=odd,
        contender_b=other,
        outcome="both_bad",
        category=CategoryFactory(code='c"1'),
        language='zh"',
        created_at=dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
    )
    VoteFactory(contender_a=other, contender_b=odd, outcome="a", category=None, language="")
    lines = streamed(api.get("/api/v1/votes/export/")).split("\n")  # JSON Lines end lines with \n only
    assert lines.pop() == "" and len(lines) == 2
    for line in lines:
        assert line == json.dumps(json.loads(line), ensure_ascii=False)
    first = json.loads(lines[0])
    assert (first["contender_a"], first["category"], first["language"]) == (odd.name, 'c"1', 'zh"')
    assert first["time"] == "2026-05-01T12:30:15.123456+00:00"
    assert json.loads(lines[1])["category"] is None


def test_a_contender_registered_through_the_api_takes_its_servers_slots_unless_given_a_limit(staff_api):
    with fault_server() as server:
        server.total_slots = 2
        body = {"base_url": server.base_url, "model_id": "ok"}
        followed = staff_api.post("/api/v1/staff/contenders/", {**body, "name": "a"}, format="json")
        chosen = staff_api.post(
            "/api/v1/staff/contenders/", {**body, "name": "b", "max_concurrent_requests": 6}, format="json"
        )
    assert followed.status_code == chosen.status_code == 201
    assert Contender.objects.filter(name="a").values_list(
        "server_slots", "max_concurrent_requests"
    ).get() == (2, 2)
    assert Contender.objects.filter(name="b").values_list(
        "server_slots", "max_concurrent_requests"
    ).get() == (2, 6)
