"""Refusals of new battles speak the client's language, as every API message does."""

import pytest

from battles.models import Battle
from tests.factories import BattleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-CN", "你的网络地址这一分钟新增的投票者太多了：请保留投票者令牌或 cookie，并在每次请求时带上"),
        (
            "en",
            "too many new voters from your address this minute: keep your voter token or cookie and send it "
            "with every call",
        ),
    ],
)
def test_too_many_new_voters_is_said_in_the_clients_language(client, settings, language, message):
    settings.ARENA_NEW_VOTERS_PER_MINUTE_PER_IP = 1
    BattleFactory(status=Battle.Status.READY)
    BattleFactory(status=Battle.Status.READY)
    assert client.post("/api/v1/battles/next/").status_code == 200
    refused = client.post("/api/v1/battles/next/", HTTP_ACCEPT_LANGUAGE=language)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "new_voter_ip_rate"
    assert refused.json()["error"]["message"] == message
