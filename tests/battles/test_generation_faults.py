"""Every way an endpoint misbehaves, over real sockets: each ends in the right recorded state, and a
battle whose answer is missing or failed is never served."""

from collections.abc import Iterator

import pytest

from battles.models import Answer, AnswerAttempt, Battle
from battles.services.generation import answer_generate
from battles.services.serving import battle_serve
from tests.factories import BattleFactory, ContenderFactory, VoterFactory
from tests.fault_server import ANSWER_TEXT, FaultServer, fault_server, unused_port

pytestmark = pytest.mark.django_db

RETRYABLE = AnswerAttempt.Outcome.RETRYABLE_ERROR
GIVEN_UP = AnswerAttempt.Outcome.PERMANENT_ERROR


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.ARENA_GENERATION_MAX_ATTEMPTS = 2
    settings.ARENA_ANSWER_MAX_CHARS = 5_000
    settings.ARENA_ENDPOINT_MAX_RESPONSE_BYTES = 1024 * 1024


def battle_waiting_on(base_url: str, model_id: str, *, stream: bool, timeout_seconds: float = 2) -> Battle:
    contender = ContenderFactory(
        base_url=base_url, model_id=model_id, stream=stream, request_timeout_seconds=timeout_seconds
    )
    battle = BattleFactory(status=Battle.Status.GENERATING, ready_at=None, contender_b=contender)
    Answer.objects.filter(pk=battle.answer_b_id).update(status=Answer.Status.PENDING, text="", html="")
    return battle


def generate_until_settled(answer_id: int) -> list[str]:
    """Run the answer's task, and its retries at once, until it is done or failed."""
    outcomes = []
    while Answer.objects.get(pk=answer_id).status == Answer.Status.PENDING:
        outcomes.append(answer_generate(answer_id=answer_id).status)
        assert len(outcomes) <= 5
    return outcomes


def assert_never_served(battle: Battle) -> None:
    assert battle_serve(voter=VoterFactory()) is None
    battle.refresh_from_db()
    assert battle.status != Battle.Status.SERVED


@pytest.mark.parametrize(
    ("model_id", "stream", "outcomes", "attempts", "error_fragment"),
    [
        ("slow:60", False, ["retrying", "failed"], [RETRYABLE, GIVEN_UP], "timed out"),
        ("status_500", False, ["retrying", "failed"], [RETRYABLE, GIVEN_UP], "HTTP 500"),
        ("status_429_retry_after", False, ["retrying", "failed"], [RETRYABLE, GIVEN_UP], "HTTP 429"),
        ("malformed_json", False, ["failed"], [GIVEN_UP], "JSON"),
        ("stream_cut", True, ["retrying", "failed"], [RETRYABLE, GIVEN_UP], "cut off"),
        ("huge_body:10", False, ["failed"], [GIVEN_UP], "1048576"),
        ("drip", False, ["retrying", "failed"], [RETRYABLE, GIVEN_UP], "timed out"),
        ("status_404", False, ["failed"], [GIVEN_UP], "HTTP 404"),
    ],
)
def test_failures_are_recorded_and_the_battle_is_retired(
    server, model_id, stream, outcomes, attempts, error_fragment
):
    battle = battle_waiting_on(server.base_url, model_id, stream=stream)
    assert generate_until_settled(battle.answer_b_id) == outcomes
    if model_id == "slow:60":
        assert server.in_flight == 2  # each attempt gave up while the server was still thinking
    answer = Answer.objects.get(pk=battle.answer_b_id)
    assert answer.status == Answer.Status.FAILED and error_fragment in answer.error
    assert (answer.text, answer.html, answer.claim_token) == ("", "", None)
    log = list(AnswerAttempt.objects.filter(answer=answer).order_by("number"))
    assert [attempt.outcome for attempt in log] == attempts
    assert all(error_fragment in attempt.error for attempt in log)
    if error_fragment == "timed out":  # ended by the contender's own 2 s deadline, even for a drip
        assert all("(total deadline 2 s," in attempt.error for attempt in log)
    battle.refresh_from_db()
    assert battle.status == Battle.Status.RETIRED
    assert_never_served(battle)
    assert server.request_count(model_id.split(":")[0]) == len(outcomes)


def test_429_retry_after_sets_the_next_attempt(server):
    battle = battle_waiting_on(server.base_url, "status_429_retry_after", stream=False)
    answer_generate(answer_id=battle.answer_b_id)
    attempt = AnswerAttempt.objects.get(answer_id=battle.answer_b_id)
    assert (attempt.status_code, attempt.retry_in_seconds) == (429, 7.0)
    assert_never_served(battle)  # waiting for the retry: not ready, not shown


def test_connection_refused_is_retried_then_given_up():
    battle = battle_waiting_on(f"http://127.0.0.1:{unused_port()}/v1", "any", stream=False)
    assert generate_until_settled(battle.answer_b_id) == ["retrying", "failed"]
    answer = Answer.objects.get(pk=battle.answer_b_id)
    assert "could not reach" in answer.error
    assert_never_served(battle)


def test_a_huge_streamed_answer_is_cut_at_the_cap_and_marked(server):
    battle = battle_waiting_on(server.base_url, "huge_stream:10", stream=True, timeout_seconds=10)
    assert generate_until_settled(battle.answer_b_id) == ["done"]
    answer = Answer.objects.get(pk=battle.answer_b_id)
    assert answer.is_truncated and len(answer.text) == 5_000
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY


@pytest.mark.parametrize("model_id", ["ok", "ok_stream"])
def test_a_healthy_endpoint_makes_the_battle_ready_and_servable(server, model_id):
    battle = battle_waiting_on(server.base_url, model_id, stream=model_id == "ok_stream")
    assert generate_until_settled(battle.answer_b_id) == ["done"]
    answer = Answer.objects.get(pk=battle.answer_b_id)
    assert answer.text == ANSWER_TEXT and not answer.is_truncated
    if model_id == "ok_stream":
        assert answer.first_token_ms is not None and answer.first_token_ms <= answer.latency_ms
    assert battle_serve(voter=VoterFactory()) == battle
