"""The optional proof of work on votes (ARENA_VOTE_POW_BITS): the check on known vectors, the challenge
bound to its battle and voter, votes through the page and the API refused without a solution and
counted with one, and nothing changed while the setting is off."""

import html
import itertools
import re
import uuid
from collections import Counter

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from battles.models import Battle, Vote, VoteHour
from battles.serializers import NextBattleSerializer
from battles.services.proof_of_work import solution_valid, vote_challenge, vote_proof_valid
from battles.services.serving import battle_serve
from battles.services.tallies import votes_tally
from battles.services.voting import VoteRejected, vote_cast
from tests.factories import BattleFactory, VoterFactory

pytestmark = pytest.mark.django_db

BITS = 8
# A challenge with solutions found once: SHA-256("{CHALLENGE}:151") starts with 9 zero bits,
# SHA-256("{CHALLENGE}:111324") with exactly 16, SHA-256("{CHALLENGE}:0") with none.
CHALLENGE = "0123456789abcdef0123456789abcdef"
KNOWN_KEY = "a-known-key-for-the-proof-of-work-tests-0123456789"
KNOWN_VOTER = uuid.UUID("12345678-1234-5678-1234-567812345678")


def solved(challenge: str, bits: int = BITS, *, unless: str = "") -> str:
    """The first counter that solves the challenge, as a voter's browser finds it (and, given
    `unless`, does not solve that other challenge by chance)."""
    return next(
        str(counter)
        for counter in itertools.count()
        if solution_valid(challenge=challenge, counter=str(counter), bits=bits)
        and not (unless and solution_valid(challenge=unless, counter=str(counter), bits=bits))
    )


def unsolved(challenge: str, bits: int = BITS) -> str:
    """A counter that does not solve the challenge."""
    return next(
        str(counter)
        for counter in itertools.count()
        if not solution_valid(challenge=challenge, counter=str(counter), bits=bits)
    )


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def challenge_on(page: str) -> str | None:
    found = re.search(r'data-arena-pow="([0-9a-f]+)"', page)
    return found.group(1) if found else None


def refusals() -> Counter:
    """Refused votes by reason, as the dashboard reads them."""
    votes_tally()
    counted: Counter = Counter()
    for rejections in VoteHour.objects.values_list("rejections", flat=True):
        counted.update(rejections)
    return counted


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert (response.json()["error"]["status"], response.json()["error"]["code"]) == (status, code)


# The check


@pytest.mark.parametrize(
    ("counter", "bits", "valid"),
    [
        ("151", 8, True),
        ("151", 9, True),
        ("151", 10, False),
        ("111324", 16, True),
        ("111324", 17, False),
        ("0", 1, False),
        ("0", 0, True),
    ],
)
def test_a_counter_solves_the_challenge_when_its_hash_starts_with_enough_zero_bits(counter, bits, valid):
    assert solution_valid(challenge=CHALLENGE, counter=counter, bits=bits) is valid


@pytest.mark.parametrize("counter", ["", " 151", "151 ", "+151", "151.0", "0151x", "١٥١", "1" * 21])
def test_a_counter_that_is_not_a_short_decimal_string_is_refused(counter):
    assert solution_valid(challenge=CHALLENGE, counter=counter, bits=1) is False
    assert solution_valid(challenge=CHALLENGE, counter=counter, bits=0) is True  # no check at 0 bits


def test_the_challenge_is_a_keyed_hash_of_the_battle_and_the_voter(settings):
    settings.SECRET_KEY = KNOWN_KEY
    challenge = vote_challenge(battle_id=42, voter_id=KNOWN_VOTER)
    assert challenge == "c183ad394e9dcc19558bcea753375794"
    others = {
        vote_challenge(battle_id=43, voter_id=KNOWN_VOTER),
        vote_challenge(battle_id=42, voter_id=uuid.UUID(int=KNOWN_VOTER.int + 1)),
    }
    settings.SECRET_KEY = KNOWN_KEY + "-rotated"
    others.add(vote_challenge(battle_id=42, voter_id=KNOWN_VOTER))
    assert challenge not in others and len(others) == 3


def test_a_solution_holds_for_its_own_battle_and_voter_only(settings):
    settings.SECRET_KEY = KNOWN_KEY
    settings.ARENA_VOTE_POW_BITS = BITS
    counter = solved(vote_challenge(battle_id=42, voter_id=KNOWN_VOTER))
    assert vote_proof_valid(battle_id=42, voter_id=KNOWN_VOTER, counter=counter)
    assert not vote_proof_valid(battle_id=43, voter_id=KNOWN_VOTER, counter=counter)
    assert not vote_proof_valid(battle_id=42, voter_id=uuid.UUID(int=KNOWN_VOTER.int + 1), counter=counter)
    wrong = unsolved(vote_challenge(battle_id=42, voter_id=KNOWN_VOTER))
    assert not vote_proof_valid(battle_id=42, voter_id=KNOWN_VOTER, counter=wrong)
    settings.ARENA_VOTE_POW_BITS = 0
    assert vote_proof_valid(battle_id=43, voter_id=KNOWN_VOTER, counter="")


# Votes through the service


def test_a_vote_without_its_solution_changes_nothing_uses_no_limit_and_is_counted_as_refused(settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 1
    voter = VoterFactory()
    battle = BattleFactory()
    assert battle_serve(voter=voter) == battle
    challenge = vote_challenge(battle_id=battle.pk, voter_id=voter.pk)
    another_battles = solved(vote_challenge(battle_id=battle.pk + 1, voter_id=voter.pk), unless=challenge)
    for proof in ["", unsolved(challenge), another_battles]:
        with pytest.raises(VoteRejected) as rejection:
            vote_cast(battle_id=battle.pk, voter=voter, outcome="a", proof=proof)
        assert rejection.value.code == "proof_missing" and rejection.value.http_status == 400
        with translation.override("en"):
            assert rejection.value.shown_message() == "your browser did not finish its check; reload the page"
    assert not Vote.objects.exists() and Battle.objects.get(pk=battle.pk).status == Battle.Status.SERVED
    assert refusals() == {"proof_missing": 3}
    # The voter's one vote this minute is still there for the vote that carries its solution.
    vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="b", proof=solved(challenge))
    assert vote.outcome == "b" and Vote.objects.count() == 1


def test_a_repeat_needs_the_solution_too(settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    proof = solved(vote_challenge(battle_id=battle.pk, voter_id=voter.pk))
    first = vote_cast(battle_id=battle.pk, voter=voter, outcome="tie", proof=proof)
    with pytest.raises(VoteRejected) as rejection:
        vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    assert rejection.value.code == "proof_missing"
    assert vote_cast(battle_id=battle.pk, voter=voter, outcome="a", proof=proof) == first


# The battle page


def test_the_page_gives_the_challenge_and_a_vote_counts_with_its_solution_only(settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    battle = BattleFactory()
    client = Client(enforce_csrf_checks=True)
    client.cookies["arena_language"] = "en"
    page = client.get("/").content.decode()
    voter_id = Battle.objects.get(pk=battle.pk).voter_id
    challenge = vote_challenge(battle_id=battle.pk, voter_id=voter_id)
    assert challenge_on(page) == challenge and f'data-arena-pow-bits="{BITS}"' in page
    assert 'class="notice no-js-only"' in page and "Voting here needs JavaScript" in html.unescape(page)
    vote = f"/battles/{battle.pk}/vote/"
    form = {"outcome": "a", "csrfmiddlewaretoken": csrf_token(page)}
    for refused in [client.post(vote, form), client.post(vote, {**form, "pow": unsolved(challenge)})]:
        assert refused.status_code == 400 and refused["Cache-Control"] == "no-store"
        assert "data-arena-notice" in refused.content.decode() and "JavaScript" in refused.content.decode()
    assert not Vote.objects.exists()
    accepted = client.post(vote, {**form, "pow": solved(challenge)})
    assert accepted.status_code == 303 and accepted["Location"] == f"/battles/{battle.pk}/"
    assert Vote.objects.get().outcome == "a"


def test_a_vote_too_early_shows_the_battle_again_with_its_challenge(settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    settings.ARENA_VOTE_MIN_SECONDS = 60
    battle = BattleFactory()
    client = Client()
    challenge = challenge_on(client.get("/").content.decode())
    again = client.post(f"/battles/{battle.pk}/vote/", {"outcome": "a", "pow": solved(challenge)})
    assert again.status_code == 409 and challenge_on(again.content.decode()) == challenge


def test_the_next_battle_comes_with_its_own_challenge(settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    BattleFactory.create_batch(2)
    client = Client()
    page = client.get("/").content.decode()
    first = Battle.objects.get(status=Battle.Status.SERVED)
    client.post(f"/battles/{first.pk}/vote/", {"outcome": "a", "pow": solved(challenge_on(page))})
    second = client.get("/").content.decode()
    other = Battle.objects.get(status=Battle.Status.SERVED)
    assert challenge_on(second) == vote_challenge(battle_id=other.pk, voter_id=other.voter_id)
    assert challenge_on(second) != challenge_on(page)


def test_with_the_setting_off_the_page_and_the_form_are_as_before(settings):
    assert settings.ARENA_VOTE_POW_BITS == 0  # the default
    battle = BattleFactory()
    client = Client()
    page = client.get("/").content.decode()
    assert "data-arena-pow" not in page and "no-js-only" not in page
    assert re.search(r'action="/battles/\d+/vote/" data-arena-vote>', page)
    response = client.post(f"/battles/{battle.pk}/vote/", {"outcome": "b"})
    assert response.status_code == 303 and Vote.objects.get().outcome == "b"


# The API


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def served(api) -> dict:
    body = api.post("/api/v1/battles/next/").json()
    assert body["status"] == "ready", body
    return body


def api_vote(api, body: dict, **fields):
    return api.post(
        f"/api/v1/battles/{body['battle']['id']}/vote/",
        {"outcome": "a", **fields},
        format="json",
        HTTP_X_ARENA_VOTER=body["voter_token"],
    )


def test_the_api_gives_the_challenge_and_counts_a_vote_with_its_solution_only(api, settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    settings.ARENA_VOTES_PER_MINUTE_PER_VOTER = 1
    battle = BattleFactory()
    body = served(api)
    voter_id = Battle.objects.get(pk=battle.pk).voter_id
    challenge = vote_challenge(battle_id=battle.pk, voter_id=voter_id)
    assert (body["pow_challenge"], body["pow_bits"]) == (challenge, BITS)
    shown = Battle.objects.select_related("question__category", "answer_a", "answer_b").get(pk=battle.pk)
    payload = {**body, "battle": shown}
    assert body == NextBattleSerializer(payload).data  # the body built by hand is the schema's
    refused = api_vote(api, body)
    assert_error(refused, 400, "proof_missing")
    assert refused.json()["error"]["message"] == "your browser did not finish its check; reload the page"
    assert_error(api_vote(api, body, pow=unsolved(challenge)), 400, "proof_missing")
    assert_error(api_vote(api, body, pow="12ab"), 400, "invalid")
    assert_error(api_vote(api, body, pow=int(solved(challenge))), 400, "invalid")  # a string of digits
    assert not Vote.objects.exists()
    cast = api_vote(api, body, pow=solved(challenge), reason="clearer")
    assert cast.status_code == 201 and cast.json()["reason"] == "clearer"
    assert_error(api_vote(api, body), 400, "proof_missing")
    repeat = api_vote(api, body, outcome="b", pow=solved(challenge))
    assert repeat.status_code == 200 and repeat.json()["outcome"] == "a"


def test_while_a_battle_is_prepared_the_api_says_a_proof_will_be_needed(api, settings):
    settings.ARENA_VOTE_POW_BITS = BITS
    body = api.post("/api/v1/battles/next/").json()
    assert (body["status"], body["pow_challenge"], body["pow_bits"]) == ("preparing", None, BITS)


def test_with_the_setting_off_the_api_asks_for_no_proof(api):
    BattleFactory.create_batch(2)
    body = served(api)
    assert (body["pow_challenge"], body["pow_bits"]) == (None, 0)
    assert api_vote(api, body).status_code == 201
    other = served(api)
    assert api_vote(api, other, pow="123").status_code == 201  # sent anyway: not looked at
