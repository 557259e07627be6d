"""The voting endpoints' hot path (hand-written SQL, prepared statements, bodies built by hand, the
throttle counted along with the endpoints' own limits) gives exactly what the slower way gave."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from arena.cache import windows_count, windows_uncount
from battles.models import Battle, Vote, Voter
from battles.serializers import (
    NextBattleSerializer,
    VoteRequestSerializer,
    VoteResultSerializer,
    vote_request_validated,
)
from battles.services.voting import vote_record, voter_known
from ratings.models import PairCount
from tests.factories import BattleFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert (response.json()["error"]["status"], response.json()["error"]["code"]) == (status, code)


def served(api) -> tuple[str, int]:
    body = api.post("/api/v1/battles/next/").json()
    assert body["status"] == "ready", body
    return body["voter_token"], body["battle"]["id"]


def vote(api, token: str, battle_id: int, outcome: str = "a", **extra):
    return api.post(
        f"/api/v1/battles/{battle_id}/vote/",
        {"outcome": outcome, **extra},
        format="json",
        HTTP_X_ARENA_VOTER=token,
    )


def test_the_bodies_built_by_hand_are_the_serializers_own(api):
    battle = BattleFactory(question__external_id="q-7", contender_a__name="Alpha", contender_b__name="Beta")
    body = api.post("/api/v1/battles/next/").json()
    shown = Battle.objects.select_related("question__category", "answer_a", "answer_b").get(pk=battle.pk)
    payload = {
        "voter_token": body["voter_token"],
        "status": "ready",
        "battle": shown,
        "retry_after_seconds": None,
        "pow_challenge": None,
        "pow_bits": 0,
    }
    assert body == NextBattleSerializer(payload).data
    cast = vote(api, body["voter_token"], battle.pk, "tie", reason="  both   fine ")
    stored = Vote.objects.select_related("contender_a", "contender_b").get(battle=battle)
    assert cast.status_code == 201
    assert cast.json() == VoteResultSerializer(stored).data
    assert cast.json()["reason"] == "both fine" and cast.json()["contender_a"]["name"] == "Alpha"
    repeat = vote(api, body["voter_token"], battle.pk, "b", reason="changed my mind")
    assert repeat.status_code == 200 and repeat.json() == VoteResultSerializer(stored).data


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_survive_a_new_database_session_and_can_be_turned_off(api, settings):
    BattleFactory.create_batch(3)
    token, first = served(api)
    assert vote(api, token, first).status_code == 201
    # A new session (a restarted database, a recycled connection) has none of them prepared yet.
    connection.close()
    next_battle = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()["battle"]["id"]
    assert vote(api, token, next_battle).status_code == 201
    settings.ARENA_DB_PREPARED_STATEMENTS = False
    last = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()["battle"]["id"]
    assert vote(api, token, last).status_code == 201
    assert Vote.objects.count() == 3


def test_a_vote_over_the_throttle_is_refused_before_anything_changes(api, monkeypatch):
    BattleFactory.create_batch(2)
    token, battle_id = served(api)
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "1/min"})  # used up by served()
    refused = vote(api, token, battle_id)
    assert_error(refused, 429, "throttled")
    assert int(refused["Retry-After"]) > 0
    assert not Vote.objects.exists() and Battle.objects.get(pk=battle_id).status == Battle.Status.SERVED
    assert not PairCount.objects.exists()
    # Requests that count nothing of their own are throttled too (when the response goes out).
    assert_error(vote(api, "forged", battle_id), 429, "throttled")
    assert_error(api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token), 429, "throttled")


def test_a_new_voter_over_the_throttle_is_not_made():
    BattleFactory()
    api = APIClient()
    served(api)
    voters = Voter.objects.count()
    holds = Battle.objects.filter(status=Battle.Status.SERVED).count()
    AnonRateThrottle.THROTTLE_RATES = {"anon": "1/min"}  # restored by the autouse fixture's monkeypatch
    assert_error(api.post("/api/v1/battles/next/"), 429, "throttled")
    assert Voter.objects.count() == voters
    assert Battle.objects.filter(status=Battle.Status.SERVED).count() == holds


def test_a_repeated_vote_uses_up_no_limit_and_is_answered_over_one(api, settings):
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 2
    BattleFactory.create_batch(3)
    token, first = served(api)
    assert vote(api, token, first).status_code == 201
    for _ in range(3):  # retries: each answers the first vote, none counts
        assert vote(api, token, first).status_code == 200
    second = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()["battle"]["id"]
    assert vote(api, token, second, "b").status_code == 201
    third = api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token).json()["battle"]["id"]
    assert_error(vote(api, token, third), 429, "voter_rate")
    # Over the limit, a retry of a vote already cast still gets its vote back.
    repeat = vote(api, token, second)
    assert repeat.status_code == 200 and repeat.json()["outcome"] == "b"
    assert Vote.objects.count() == 2


def test_a_token_of_a_voter_that_is_gone_is_refused(api):
    BattleFactory()
    token, battle_id = served(api)
    Battle.objects.update(voter=None, status=Battle.Status.READY, served_at=None, holder_ip_hash="")
    Voter.objects.all().delete()
    assert_error(vote(api, token, battle_id), 403, "invalid_voter_token")
    assert_error(api.post("/api/v1/battles/next/", HTTP_X_ARENA_VOTER=token), 403, "invalid_voter_token")


@pytest.mark.django_db(transaction=True)
def test_of_two_casts_arriving_together_exactly_one_is_recorded():
    BattleFactory()
    api = APIClient()
    _, battle_id = served(api)
    voter_id = Battle.objects.get(pk=battle_id).voter_id
    start = threading.Barrier(4, timeout=10)
    created: list[bool] = []
    errors: list[BaseException] = []

    def cast(outcome: str) -> None:
        try:
            start.wait()
            created.append(
                vote_record(
                    battle_id=battle_id, voter=voter_known(voter_id=voter_id), outcome=outcome
                ).created
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=cast, args=(outcome,)) for outcome in ("a", "b", "tie", "a")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(created) == [False, False, False, True]
    assert Vote.objects.count() == 1
    # Counted once: in all categories and in the battle's own.
    assert sorted(PairCount.objects.values_list("count", flat=True)) == [1, 1]


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "a"},
        {"outcome": "both_bad", "reason": "  neither answers  "},
        {"outcome": "tie", "reason": ""},
        {"outcome": "b", "reason": "x" * 500},
        {"outcome": "b", "reason": " " + "x" * 500 + " "},
        {"outcome": "b", "reason": "x" * 501},
        {"outcome": "b", "reason": None},
        {"outcome": "b", "reason": 7},
        {"outcome": "maybe"},
        {"outcome": ["a"]},
        {"outcome": None},
        {"reason": "no verdict"},
        {"outcome": "a", "extra": 1},
        ["a"],
        # With a proof of work (battles/services/proof_of_work.py).
        {"outcome": "a", "pow": "151"},
        {"outcome": "a", "pow": "0" * 20},
        {"outcome": "a", "pow": "1" * 21},
        {"outcome": "a", "pow": ""},
        {"outcome": "a", "pow": " 151 "},
        {"outcome": "a", "pow": "15a"},
        {"outcome": "a", "pow": "١٥١"},
        {"outcome": "a", "pow": 151},
        {"outcome": "a", "pow": None},
        {"outcome": "tie", "pow": "7", "reason": "  both fine "},
        {"outcome": "tie", "pow": "7", "reason": 7},
        {"outcome": "maybe", "pow": "7"},
    ],
)
def test_a_vote_body_checked_by_hand_is_what_the_serializer_makes_of_it(body):
    expected = VoteRequestSerializer(data=body)
    if expected.is_valid():
        assert vote_request_validated(body) == dict(expected.validated_data)
    else:
        with pytest.raises(ValidationError) as refused:
            vote_request_validated(body)
        assert refused.value.detail == expected.errors


def test_a_request_over_the_throttle_uses_up_none_of_the_endpoints_own_limits(api, monkeypatch, settings):
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 1
    BattleFactory()
    token, battle_id = served(api)
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "1/min"})
    assert_error(vote(api, token, battle_id), 429, "throttled")
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "100/min"})
    assert vote(api, token, battle_id).status_code == 201  # the voter's one vote this minute


def test_over_the_vote_limits_a_vote_that_could_not_count_anyway_is_told_why(api, settings):
    BattleFactory.create_batch(2)
    token, battle_id = served(api)
    _, other_battle = served(api)
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 0
    assert_error(vote(api, token, other_battle), 403, "not_served_to_voter")
    settings.ARENA_VOTE_MIN_SECONDS = 60
    assert_error(vote(api, token, battle_id), 409, "too_early")
    settings.ARENA_VOTE_MIN_SECONDS = 0
    assert_error(vote(api, token, battle_id), 429, "voter_rate")
    assert not Vote.objects.exists()


@pytest.mark.parametrize("reason", ["nul\\u0000inside", "lone \\ud800 surrogate"])
def test_a_reason_the_database_cannot_store_is_refused_politely(api, reason):
    BattleFactory()
    token, battle_id = served(api)
    refused = api.post(
        f"/api/v1/battles/{battle_id}/vote/",
        '{"outcome": "a", "reason": "' + reason + '"}',  # JSON text: its escapes reach the server
        content_type="application/json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert_error(refused, 400, "invalid")
    assert not Vote.objects.exists()
    assert vote(api, token, battle_id).status_code == 201  # and the refusal used up no limit


def test_taking_back_a_count_never_makes_a_window_that_has_ended():
    cache.delete("votes:test-window")
    windows_uncount(["votes:test-window"])
    assert cache.get("votes:test-window") is None
    assert windows_count([("votes:test-window", 60)]) == [1]
    windows_uncount(["votes:test-window"])
    assert cache.get("votes:test-window") == 0
