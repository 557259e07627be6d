"""What the client asks for in its headers: the export's format from Accept, the API's language from
Accept-Language (the site keeps its own, Chinese first)."""

import json
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.utils import translation
from rest_framework.exceptions import MethodNotAllowed

from battles.models import Vote
from tests.factories import BattleFactory, VoteFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EXPORT = "/api/v1/votes/export/"
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "clean_battle": "application/json; charset=utf-8",
}


def error(status: int, code: str, message: str) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "fields": {}}}


def exported_format(response) -> str:
    """Which format a 200 export is in, by its type, its file name and its body."""
    assert response.status_code == 200, response.content
    body = b"".join(response.streaming_content).decode()
    kind = {value: name for name, value in MEDIA_TYPES.items()}[response["Content-Type"]]
    extension = {"jsonl": "jsonl", "csv": "csv", "clean_battle": "json"}[kind]
    assert response["Content-Disposition"] == f'attachment; filename="votes.{extension}"'
    if kind == "jsonl":
        assert json.loads(body.splitlines()[0])["outcome"] == "a"
    elif kind == "csv":
        assert body.splitlines()[0] == "id,time,contender_a,contender_b,outcome,category,language"
    else:
        assert json.loads(body)[0]["winner"] == "model_a"
    return kind


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "jsonl"),
        ("*/*", "jsonl"),
        ("application/x-ndjson", "jsonl"),
        ("text/csv", "csv"),
        ("text/*", "csv"),
        ("application/json", "clean_battle"),
        ("application/json; charset=utf-8", "clean_battle"),
        ("application/*", "jsonl"),
        # A browser: the most specific match wins over */*, and among equals the default order.
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "jsonl"),
        ("text/csv, */*", "csv"),
        ("application/json, text/plain, */*", "clean_battle"),
        ("application/json;q=0.4, text/csv;q=0.5", "csv"),
        ("text/csv;q=0.5, application/x-ndjson", "jsonl"),
        ("application/x-ndjson;q=0, */*", "csv"),
        ("TEXT/CSV", "csv"),
    ],
)
def test_without_format_the_export_answers_in_the_type_accept_prefers(api, accept, expected):
    VoteFactory(outcome="a")
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.get(EXPORT, **headers)
    assert exported_format(response) == expected
    assert "Accept" in response["Vary"]


@pytest.mark.parametrize(
    ("export_format", "accept"),
    [
        ("csv", "text/csv"),
        ("csv", "*/*"),
        ("csv", "application/json, */*;q=0.1"),
        ("jsonl", "application/x-ndjson"),
        ("clean_battle", "application/json"),
        ("clean_battle", None),
    ],
)
def test_a_format_the_accept_header_allows_is_served(api, export_format, accept):
    VoteFactory(outcome="a")
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    assert exported_format(api.get(EXPORT, {"format": export_format}, **headers)) == export_format


@pytest.mark.parametrize(
    ("export_format", "accept", "media_type"),
    [
        ("csv", "application/json", "text/csv"),
        ("jsonl", "text/csv", "application/x-ndjson"),
        ("clean_battle", "application/x-ndjson, text/*", "application/json"),
        ("csv", "text/csv;q=0, */*", "text/csv"),
    ],
)
def test_a_format_that_contradicts_accept_is_a_406(api, export_format, accept, media_type):
    VoteFactory(outcome="a")
    response = api.get(EXPORT, {"format": export_format}, HTTP_ACCEPT=accept)
    assert (response.status_code, response["Content-Type"], response.json()) == (
        406,
        "application/json",
        error(
            406,
            "not_acceptable",
            f"format={export_format} is served as {media_type}, which the Accept header does not accept",
        ),
    )


@pytest.mark.parametrize(
    "accept", ["image/png", "text/html", "application/x-ndjson;q=0, text/csv;q=0, application/json;q=0"]
)
def test_an_accept_header_that_takes_none_of_the_exports_types_is_a_406(api, accept):
    response = api.get(EXPORT, HTTP_ACCEPT=accept)
    assert (response.status_code, response.json()) == (
        406,
        error(
            406,
            "not_acceptable",
            "the export is served as application/x-ndjson, text/csv, application/json; "
            "the Accept header accepts none of them",
        ),
    )


def test_errors_of_the_export_are_json_whatever_accept_says(api):
    response = api.get(EXPORT, {"limit": "0"}, HTTP_ACCEPT="text/csv")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        400,
        "application/json",
        error(400, "invalid", "limit must be a whole number from 1 to 1000000"),
    )


def test_the_schema_documents_the_exports_types_and_its_406():
    operation = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"][EXPORT]["get"]
    assert set(operation["responses"]["200"]["content"]) == {
        "application/x-ndjson",
        "text/csv",
        "application/json",
    }
    assert operation["responses"]["406"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
    }
    assert "Accept header" in operation["description"]


# --- Language -----------------------------------------------------------------------------------------

CHINESE = [
    "zh",
    "zh-CN",
    "zh-cn",
    "zh-Hans",
    "zh-Hans-CN",
    "zh-SG",
    "de, zh;q=0.5",
    "zh-CN,zh;q=0.9,en;q=0.8",
]
ENGLISH = [
    None,
    "",
    "en",
    "en-US,en;q=0.9",
    "fr",
    "*",
    "zh-TW",
    "zh-Hant",
    "zh;q=0, en",
    "en, zh;q=0.9",
    "xx;q=oops",
]


@pytest.mark.parametrize("accept_language", CHINESE + ENGLISH)
def test_the_api_speaks_the_language_the_client_asks_for(api, accept_language):
    language = "zh-hans" if accept_language in CHINESE else "en"
    headers = {} if accept_language is None else {"HTTP_ACCEPT_LANGUAGE": accept_language}
    ours = api.get("/api/v1/questions/", {"page_size": "0"}, **headers)
    drfs = api.get("/api/v1/battles/next/", **headers)
    with translation.override(language):
        drf_message = str(MethodNotAllowed("GET").detail)
    expected = {
        "zh-hans": "page_size 必须是 1 到 500 之间的整数",
        "en": "page_size must be a whole number from 1 to 500",
    }[language]
    assert ours.json() == error(400, "invalid", expected)
    assert drfs.json() == error(405, "method_not_allowed", drf_message)
    for response in (ours, drfs):
        assert response["Content-Language"] == language
        assert "Accept-Language" in response["Vary"]
    assert drf_message == {"zh-hans": "方法 “GET” 不被允许。", "en": 'Method "GET" not allowed.'}[language]


def test_every_kind_of_message_follows_accept_language(api):
    battle = BattleFactory()
    token = api.post("/api/v1/battles/next/").json()["voter_token"]
    vote = f"/api/v1/battles/{battle.pk}/vote/"

    def message(response):
        return response.json()["error"]["message"]

    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
    assert message(api.get("/api/v1/nope/", **zh)) == "没有这个资源：/api/v1/nope/"
    assert (
        message(api.post(vote, {"outcome": "a"}, format="json", **zh))
        == "请在 X-Arena-Voter 请求头中发送投票者令牌"
    )
    assert message(
        api.post(vote, "[" * 100, content_type="application/json", HTTP_X_ARENA_VOTER=token, **zh)
    ) == ("JSON 嵌套了 100 层：最多允许 64 层")
    assert message(api.get("/api/v1/questions/", {"cursor": "x"}, **zh)) == (
        "cursor 不是这个列表给出的游标：请使用某一页的 next 或 previous 链接"
    )
    assert message(api.get("/api/v1/leaderboard/", {"category": "NOPE"}, **zh)) == "没有类别 'NOPE'"
    # DRF's own field messages too.
    refused = api.post(vote, {"outcome": "a", "reason": ["x"]}, format="json", HTTP_X_ARENA_VOTER=token, **zh)
    assert refused.json()["error"]["fields"] == {"reason": ["不是有效的字符串。"]}
    assert not Vote.objects.exists()


def test_the_site_keeps_its_cookie_and_chinese_first(api):
    BattleFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    page = client.get("/")
    assert page["Content-Language"] == "zh-hans" and "Cookie" in page["Vary"]
    assert "Accept-Language" not in page["Vary"]
    client.cookies["arena_language"] = "en"
    assert client.get("/leaderboard/")["Content-Language"] == "en"
    # The cookie does not choose the API's language: a program asks for its own.
    assert client.get("/api/v1/contenders/")["Content-Language"] == "en"
    client.cookies["arena_language"] = "zh-hans"
    assert client.get("/api/v1/contenders/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "en"
