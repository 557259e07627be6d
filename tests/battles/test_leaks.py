"""Answers that give a model away: aliases with defaults from the name, a matcher for Chinese and
English text (case and width folded), answers marked when saved, kept out of battles, and votes on
battles that showed one left out of the boards and counted again when the leak goes."""

import random

import httpx
import pytest
import respx
from django.core.management import call_command

from battles.leaks import LeakMatcher, clean_aliases, default_aliases
from battles.models import Answer, Battle, Contender, Vote
from battles.services.bank import bank_import_paths
from battles.services.contenders import contender_create, contender_update
from battles.services.generation import answer_generate
from battles.services.leaks import answers_leak_scan
from battles.services.pool import battle_draw
from battles.services.voting import vote_cast
from ratings.models import RatingsState
from ratings.services import ratings_refresh_locked
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    ContenderFactory,
    OfflineContenderFactory,
    QuestionFactory,
    VoterFactory,
)

pytestmark = pytest.mark.django_db

URL = "http://models.test/v1/chat/completions"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Qwen2.5-7B-Instruct", {"Qwen", "通义千问", "千问", "阿里", "Alibaba"}),
        ("ERNIE-4.0", {"文心一言", "ERNIE", "百度"}),
        ("gpt-4o-mini", {"ChatGPT", "GPT", "OpenAI"}),
        ("claude-3-haiku", {"Claude", "Anthropic"}),
        ("deepseek-chat", {"DeepSeek", "深度求索"}),
        ("Llama-3-Chinese-8B-Instruct", {"LLaMA", "Meta"}),
        ("gemini-1.5-pro", {"Gemini", "Google", "谷歌"}),
        ("glm-4-9b", {"GLM", "ChatGLM", "智谱"}),
        ("kimi-k2", {"Kimi", "月之暗面"}),
        ("doubao-pro", {"豆包", "字节跳动"}),
        ("Mistral-7B", {"Mistral"}),
    ],
)
def test_default_aliases_come_from_the_name(name, expected):
    aliases = default_aliases(name)
    assert aliases[0] == name and expected <= set(aliases)


def test_a_name_of_no_known_family_is_its_own_alias():
    assert default_aliases("my-model") == ["my-model"]
    assert clean_aliases(["  Qwen ", "qwen", "", "通义  千问", "x" * 100]) == ["Qwen", "通义 千问", "x" * 60]


MATCHER = LeakMatcher.of(
    default_aliases("Qwen2.5-7B") + default_aliases("gpt-4o") + default_aliases("Llama-3")
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("我是通义千问，由阿里云开发的大语言模型。", ["通义千问", "阿里云"]),
        ("I am ChatGPT, a model trained by OpenAI.", ["ChatGPT", "OpenAI"]),
        ("作为ＣｈａｔＧＰＴ，我无法回答。", ["ChatGPT"]),  # full-width letters
        ("I'm QWEN, nice to meet you", ["Qwen"]),  # any case
        ("GPT-4 是一个模型", ["GPT"]),
        ("Meta 公司发布了 LLaMA。", ["Meta", "LLaMA"]),
        ("The metadata of a file; a gptx tool; qwenlike", []),  # Latin aliases match whole words
        ("我是一个人工智能助手，很高兴为你服务。", []),
        ("", []),
    ],
)
def test_the_matcher_finds_aliases_in_chinese_and_english(text, found):
    assert MATCHER.find(text) == found


def test_a_new_contender_gets_default_aliases_and_staff_edit_them():
    contender = contender_create(name="Qwen2-7B", base_url="http://models.test/v1", model_id="qwen2")
    assert "通义千问" in contender.aliases
    contender_update(contender, aliases=["  Qwen ", "qwen", "阿里"])
    contender.refresh_from_db()
    assert contender.aliases == ["Qwen", "阿里"]
    chosen = contender_create(name="Chosen", base_url="http://models.test/v1", model_id="c", aliases=["X"])
    assert chosen.aliases == ["X"]


def _battle_waiting_on_b(**contender_fields) -> tuple[Battle, Answer]:
    battle = BattleFactory(
        status=Battle.Status.GENERATING,
        ready_at=None,
        contender_b=ContenderFactory(stream=False, **contender_fields),
    )
    Answer.objects.filter(pk=battle.answer_b_id).update(
        status=Answer.Status.PENDING, text="", html="", seed=7
    )
    return battle, Answer.objects.get(pk=battle.answer_b_id)


def _completion(content: str) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    return {"id": "c", "object": "chat.completion", "choices": [choice]}


@respx.mock
def test_an_answer_naming_a_model_is_marked_when_saved_and_its_battle_retired():
    battle, answer = _battle_waiting_on_b(aliases=["Qwen", "通义千问"])
    respx.post(URL).mock(
        return_value=httpx.Response(200, json=_completion("我是通义千问，很高兴回答你的问题。"))
    )
    assert answer_generate(answer_id=answer.pk).status == "done"
    answer.refresh_from_db()
    battle.refresh_from_db()
    assert answer.leaks == "通义千问"
    assert battle.status == Battle.Status.RETIRED and "names a model" in battle.retired_reason


@respx.mock
def test_an_answer_naming_no_model_makes_its_battle_ready(settings):
    battle, answer = _battle_waiting_on_b(aliases=["Qwen"])
    respx.post(URL).mock(return_value=httpx.Response(200, json=_completion("天空是蓝色的，因为瑞利散射。")))
    answer_generate(answer_id=answer.pk)
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY and Answer.objects.get(pk=answer.pk).leaks == ""


def test_imported_answers_are_marked(tmp_path):
    ContenderFactory(name="gpt-4o", aliases=default_aliases("gpt-4o"))
    bank = tmp_path / "bank.csv"
    bank.write_text(
        "text,model,answer\nWho are you?,imported-model,I am ChatGPT.\nWhat is 2+2?,imported-model,Four.\n"
    )
    bank_import_paths(paths=[bank])
    assert dict(Answer.objects.values_list("text", "leaks")) == {"I am ChatGPT.": "ChatGPT", "Four.": ""}


def test_leaking_answers_are_kept_out_of_battles_another_sample_is_used():
    question = QuestionFactory()
    first, second = OfflineContenderFactory(aliases=["Alpha"]), OfflineContenderFactory(aliases=["Beta"])
    AnswerFactory(question=question, contender=first, text="Alpha here.", leaks="Alpha")
    clean = AnswerFactory(question=question, contender=first, sample_index=1, text="Clean.")
    AnswerFactory(question=question, contender=second, text="Fine.")
    rng = random.Random(3)
    drawn = [battle_draw(rng=rng) for _ in range(12)]
    assert {b.answer_a_id for b in drawn} | {b.answer_b_id for b in drawn} >= {clean.pk}
    assert not Battle.objects.filter(answer_a__leaks__gt="").exists()
    assert not Battle.objects.filter(answer_b__leaks__gt="").exists()


def _voted_battle(text_b: str, contender_b: Contender) -> tuple[Battle, Vote]:
    battle = BattleFactory(contender_b=contender_b, answer_b__text=text_b)
    Answer.objects.filter(pk=battle.answer_b_id).update(text=text_b)
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.SERVED, voter=voter, served_at=battle.ready_at
    )
    vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="b")
    return battle, vote


def test_a_scan_after_aliases_change_leaves_votes_out_and_counts_them_again(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 0
    gamma = ContenderFactory(name="Gamma", aliases=[])
    _leaking_battle, leaking_vote = _voted_battle("I am Gamma, built by GammaCorp.", gamma)
    _clean_battle, clean_vote = _voted_battle("Plain answer.", gamma)
    open_battle = BattleFactory(contender_b=gamma)
    Answer.objects.filter(pk=open_battle.answer_b_id).update(text="Gamma speaking.")
    ratings_refresh_locked()
    contender_update(gamma, aliases=["Gamma"])  # staff add the alias
    report = answers_leak_scan()
    assert (report.answers_marked, report.battles_retired, report.votes_left_out) == (2, 1, 1)
    leaking_vote.refresh_from_db()
    clean_vote.refresh_from_db()
    assert leaking_vote.excluded_reasons == "leak" and clean_vote.excluded_reasons == ""
    open_battle.refresh_from_db()
    assert open_battle.status == Battle.Status.RETIRED
    assert RatingsState.objects.get().recount_requested_at is not None
    assert ratings_refresh_locked().vote_count == 1  # recounted without the vote on the leak
    contender_update(gamma, aliases=[])  # the alias goes: the vote counts again
    report = answers_leak_scan()
    assert (report.answers_cleared, report.votes_counted_again) == (2, 1)
    leaking_vote.refresh_from_db()
    assert leaking_vote.excluded_reasons == "" and leaking_vote.excluded_at is None
    assert ratings_refresh_locked().vote_count == 2


def test_with_leaking_answers_served_a_vote_on_one_is_left_out_when_cast(settings):
    settings.ARENA_VOTE_MIN_SECONDS = 0
    settings.ARENA_SERVE_LEAKING_ANSWERS = True
    gamma = ContenderFactory(name="Gamma", aliases=["Gamma"])
    _battle, counted = _voted_battle("A plain answer.", gamma)
    assert Vote.objects.get(pk=counted.pk).excluded_reasons == ""
    battle = BattleFactory(contender_b=gamma)
    Answer.objects.filter(pk=battle.answer_b_id).update(text="Gamma here.", leaks="Gamma")
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.SERVED, voter=voter, served_at=battle.ready_at
    )
    vote = vote_cast(battle_id=battle.pk, voter=voter, outcome="a")
    assert Vote.objects.get(pk=vote.pk).excluded_reasons == "leak"
    assert RatingsState.objects.get().recount_requested_at is not None


def test_the_scan_command_reports_what_it_did(capsys):
    gamma = ContenderFactory(name="Gamma", aliases=["Gamma"])
    AnswerFactory(contender=gamma, text="Gamma here.")
    AnswerFactory(text="Nothing to see.")
    call_command("answers_leak_scan")
    out = capsys.readouterr().out
    assert "2 answers scanned" in out and "1 newly name a model" in out
