"""The API's language follows the client's Accept-Language (the site keeps its own, Chinese first)."""

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.exceptions import MethodNotAllowed

from battles.models import Vote
from tests.factories import BattleFactory

pytestmark = pytest.mark.django_db


def error(status: int, code: str, message: str) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "fields": {}}}


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
