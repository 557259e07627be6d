import httpx
import pytest
import respx

from battles.models import Answer, Battle
from battles.services.generation import answer_generate
from tests.factories import AnswerFactory, BattleFactory, ContenderFactory, OfflineContenderFactory

pytestmark = pytest.mark.django_db

URL = "http://models.test/v1/chat/completions"


def completion(content: str) -> dict:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def pending_battle(**contender_fields) -> tuple[Battle, Answer]:
    """A battle whose answer A is done and answer B waits for the endpoint."""
    battle = BattleFactory(
        status=Battle.Status.GENERATING, ready_at=None, contender_b=ContenderFactory(**contender_fields)
    )
    Answer.objects.filter(pk=battle.answer_b_id).update(status=Answer.Status.PENDING, text="", html="")
    return battle, Answer.objects.get(pk=battle.answer_b_id)


@respx.mock
def test_answer_is_fetched_rendered_and_battle_becomes_ready():
    battle, answer = pending_battle(temperature=0.7, max_tokens=256, system_prompt="Be brief.")
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("**Forty-two**")))

    answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert answer.status == Answer.Status.DONE
    assert answer.text == "**Forty-two**"
    assert answer.html == "<p><strong>Forty-two</strong></p>\n"
    assert answer.attempts == 1 and answer.latency_ms is not None and answer.finished_at is not None
    assert answer.parameters == {"model": battle.contender_b.model_id, "temperature": 0.7, "max_tokens": 256}
    sent = route.calls.last.request
    body = httpx.Response(200, content=sent.content).json()
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": battle.question.text},
    ]
    assert body["model"] == battle.contender_b.model_id and body["stream"] is False
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY and battle.ready_at is not None


@respx.mock
def test_api_key_is_read_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("TEST_MODEL_KEY", "sk-secret")
    _, answer = pending_battle(api_key_env="TEST_MODEL_KEY")
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("hi")))
    answer_generate(answer_id=answer.pk)
    assert route.calls.last.request.headers["Authorization"] == "Bearer sk-secret"


def test_missing_api_key_variable_fails_the_answer_without_a_call(monkeypatch):
    monkeypatch.delenv("ABSENT_MODEL_KEY", raising=False)
    _, answer = pending_battle(api_key_env="ABSENT_MODEL_KEY")
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL)
        answer_generate(answer_id=answer.pk)
    assert not route.called
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED
    assert "ABSENT_MODEL_KEY" in answer.error and "not set" in answer.error


@pytest.mark.parametrize(
    ("response", "error_fragment"),
    [
        (httpx.Response(500, json={"error": {"message": "CUDA out of memory"}}), "HTTP 500"),
        (httpx.Response(404, json={"error": {"message": "model not found"}}), "model not found"),
        (httpx.Response(200, text="not json"), "not JSON"),
        (httpx.Response(200, json={"choices": []}), "not a chat completion"),
        (httpx.ConnectError("connection refused"), "could not reach"),
        (httpx.ReadTimeout("read timed out"), "timed out"),
    ],
)
@respx.mock
def test_failures_are_recorded_and_battle_is_retired(response, error_fragment):
    battle, answer = pending_battle()
    if isinstance(response, Exception):
        respx.post(URL).mock(side_effect=response)
    else:
        respx.post(URL).mock(return_value=response)

    answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED
    assert error_fragment in answer.error
    assert answer.text == ""
    battle.refresh_from_db()
    assert battle.status == Battle.Status.RETIRED
    assert battle.retired_reason == f"answer {answer.pk} failed"


@respx.mock
def test_answer_already_claimed_is_left_alone():
    _, answer = pending_battle()
    Answer.objects.filter(pk=answer.pk).update(status=Answer.Status.RUNNING)
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("late")))
    assert answer_generate(answer_id=answer.pk) is None
    assert not route.called
    answer.refresh_from_db()
    assert answer.status == Answer.Status.RUNNING and answer.attempts == 0


def test_offline_contender_answer_cannot_be_generated():
    answer = AnswerFactory(contender=OfflineContenderFactory(), status=Answer.Status.PENDING, text="")
    answer_generate(answer_id=answer.pk)
    answer.refresh_from_db()
    assert answer.status == Answer.Status.FAILED and "offline contender" in answer.error
