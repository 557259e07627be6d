"""Votes that must not count change nothing: too early, over the limits, repeated, not yours."""

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from battles.models import Battle, Vote
from battles.services.serving import battle_serve
from battles.services.voting import VoteRejected, ip_hash_of, vote_cast
from tests.factories import BattleFactory, VoterFactory

pytestmark = pytest.mark.django_db


def served(voter, *, seconds_ago: float) -> Battle:
    battle = BattleFactory()
    assert battle_serve(voter=voter) == battle
    Battle.objects.filter(pk=battle.pk).update(served_at=timezone.now() - dt.timedelta(seconds=seconds_ago))
    return battle


@dataclass
class Moments:
    before: dt.datetime
    after: dt.datetime

    def seconds_since(self, start: dt.datetime) -> tuple[float, float]:
        """The least and the most seconds from `start` to a moment inside the block."""
        return (self.before - start).total_seconds(), (self.after - start).total_seconds()


@contextmanager
def between() -> Iterator[Moments]:
    """The instants just before and just after the block: what it stamped lies between them."""
    moments = Moments(before=timezone.now(), after=timezone.now())  # `after` is taken again at the end
    try:
        yield moments
    finally:
        moments.after = timezone.now()


def database_state() -> tuple:
    return (
        list(Vote.objects.values_list("id", "outcome")),
        list(Battle.objects.order_by("id").values_list("id", "status", "voted_at")),
    )


def test_a_vote_sooner_than_the_minimum_is_refused_and_can_be_cast_later(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 3
    voter = VoterFactory()
    battle = served(voter, seconds_ago=1)
    before = database_state()
    with pytest.raises(VoteRejected) as rejection, between() as moments:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    served_at = Battle.objects.get(pk=battle.pk).served_at
    # The rest of the 3 s, as of the moment the vote was checked: somewhere between these two instants.
    assert rejection.value.code == "too_early"
    least, most = moments.seconds_since(served_at)
    assert 3 - most <= rejection.value.retry_after_seconds <= 3 - least
    assert database_state() == before
    Battle.objects.filter(pk=battle.pk).update(served_at=timezone.now() - dt.timedelta(seconds=3.5))
    served_at = Battle.objects.get(pk=battle.pk).served_at
    with between() as moments:
        vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    least, most = moments.seconds_since(served_at)
    assert round(least * 1000) <= vote.decision_ms <= round(most * 1000)


def test_the_time_to_decide_and_a_hash_of_the_address_are_stored(settings):
    voter = VoterFactory()
    battle = served(voter, seconds_ago=12)
    served_at = Battle.objects.get(pk=battle.pk).served_at
    with between() as moments:
        vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="b", ip_hash=ip_hash_of("203.0.113.7"))
    vote.refresh_from_db()
    least, most = moments.seconds_since(served_at)
    assert round(least * 1000) <= vote.decision_ms <= round(most * 1000)
    assert vote.ip_hash == ip_hash_of("203.0.113.7") and len(vote.ip_hash) == 32
    assert "203.0.113.7" not in str(Vote.objects.values().get(pk=vote.pk))
    assert ip_hash_of("203.0.113.8") != vote.ip_hash
    settings.ARENA_IP_HASH_KEY = "another key"
    assert ip_hash_of("203.0.113.7") != vote.ip_hash  # keyed: not a plain hash anyone could recompute


@pytest.mark.parametrize(
    ("setting", "limit", "same_ip", "code"),
    [
        ("ARENA_VOTES_PER_MINUTE_PER_VOTER", 2, False, "voter_rate"),
        ("ARENA_VOTES_PER_DAY_PER_VOTER", 2, False, "daily_cap"),
        ("ARENA_VOTES_PER_MINUTE_PER_IP", 2, True, "ip_rate"),
    ],
)
def test_votes_over_a_limit_are_refused_and_change_nothing(settings, setting, limit, same_ip, code):
    setattr(settings, setting, limit)
    one_voter = VoterFactory()
    for _ in range(limit):
        voter = VoterFactory() if same_ip else one_voter
        battle = served(voter, seconds_ago=10)
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a", ip_hash=ip_hash_of("198.51.100.1"))
    voter = VoterFactory() if same_ip else one_voter
    battle = served(voter, seconds_ago=10)
    before = database_state()
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a", ip_hash=ip_hash_of("198.51.100.1"))
    assert rejection.value.code == code and rejection.value.retry_after_seconds > 0
    assert database_state() == before
    assert Vote.objects.count() == limit


def test_a_repeated_post_is_answered_with_the_first_vote_and_not_counted_again(settings):
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 1
    voter = VoterFactory()
    battle = served(voter, seconds_ago=10)
    first = vote_cast(battle_id=battle.pk, voter=voter, outcome="tie")
    for _ in range(3):  # repeats neither count nor hit the limit
        assert vote_cast(battle_id=battle.pk, voter=voter, outcome="a") == first
    assert Vote.objects.get().outcome == "tie"


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_over_http_the_rejections_have_their_status_and_change_nothing(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 30
    settings.ARENA_VOTES_PER_MINUTE_PER_IP = 1
    first, second = BattleFactory(), BattleFactory()
    owner, stranger = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    owner_page = owner.get("/").content.decode()
    stranger_page = stranger.get("/").content.decode()
    owned = Battle.objects.get(
        voter__isnull=False,
        pk__in=[first.pk, second.pk],
        served_at__isnull=False,
        id=re.search(r"/battles/(\d+)/vote/", owner_page).group(1),
    )
    before = database_state()

    too_early = owner.post(
        f"/battles/{owned.pk}/vote/", {"outcome": "a", "csrfmiddlewaretoken": csrf(owner_page)}
    )
    assert too_early.status_code == 409 and int(too_early["Retry-After"]) >= 29
    assert "请先花点时间读完两个回答" in too_early.content.decode()  # the battle again, with a word
    assert "data-arena-vote" in too_early.content.decode()

    not_yours = stranger.post(
        f"/battles/{owned.pk}/vote/", {"outcome": "a", "csrfmiddlewaretoken": csrf(stranger_page)}
    )
    assert not_yours.status_code == 403
    invalid = owner.post(
        f"/battles/{owned.pk}/vote/", {"outcome": "c", "csrfmiddlewaretoken": csrf(owner_page)}
    )
    assert invalid.status_code == 400
    assert database_state() == before

    settings.ARENA_VOTE_MIN_SECONDS = 0
    assert (
        owner.post(
            f"/battles/{owned.pk}/vote/", {"outcome": "a", "csrfmiddlewaretoken": csrf(owner_page)}
        ).status_code
        == 303
    )
    other = Battle.objects.get(pk__in=[first.pk, second.pk], status=Battle.Status.SERVED)
    over = stranger.post(
        f"/battles/{other.pk}/vote/", {"outcome": "b", "csrfmiddlewaretoken": csrf(stranger_page)}
    )
    assert over.status_code == 429 and "Retry-After" in over
    assert Vote.objects.count() == 1


def test_the_reason_is_kept_for_the_voters_own_vote_only():
    owner, stranger = Client(), Client()
    battle = BattleFactory()
    owner.get("/")
    owner.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    response = owner.post(
        f"/battles/{battle.pk}/reason/", {"reason": "  B   missed the point \n entirely " + "x" * 600}
    )
    assert response.status_code == 303 and response["Location"].endswith("?reason=saved")
    reason = Vote.objects.get().reason
    assert reason.startswith("B missed the point entirely x") and len(reason) == 500
    stranger.get("/")
    assert stranger.post(f"/battles/{battle.pk}/reason/", {"reason": "spam"}).status_code == 404
    assert Vote.objects.get().reason == reason
    assert "谢谢，你的理由已保存" in owner.get(response["Location"]).content.decode()
