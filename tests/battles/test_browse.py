"""Browse mode: questions by category, words and model; two answers side by side with the names; signed
verdicts kept apart from the votes and never counted on a board."""

import re

import pytest
from django.test import Client

from battles.models import BrowseVerdict, Vote
from ratings.models import PairCount, RatingSnapshot
from ratings.services import ratings_refresh
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
)

pytestmark = pytest.mark.django_db


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def _answered(question, *contenders, **fields):
    return [AnswerFactory(question=question, contender=contender, **fields) for contender in contenders]


@pytest.fixture
def bank():
    """Two categories, three models; questions answered by two, one or no models, and one inactive."""
    code, chat = CategoryFactory(code="CODE", name="代码", name_en="Code"), CategoryFactory(code="CHAT")
    alpha, beta, gamma = (ContenderFactory(name=name) for name in ("Alpha", "Beta", "Gamma"))
    sort = QuestionFactory(text="How do I sort a list in Python?", category=code)
    _answered(sort, alpha, beta, gamma)
    poem = QuestionFactory(text="Write a poem about rain", category=chat)
    _answered(poem, alpha, beta)
    lonely = QuestionFactory(text="Answered by one model only", category=chat)
    _answered(lonely, alpha)
    hidden = QuestionFactory(text="An inactive question", category=chat, is_active=False)
    _answered(hidden, alpha, beta)
    failed = QuestionFactory(text="Only one answer is done", category=chat)
    AnswerFactory(question=failed, contender=alpha)
    AnswerFactory(question=failed, contender=beta, status="failed", html="")
    return {"models": (alpha, beta, gamma), "sort": sort, "poem": poem, "hidden": hidden, "lonely": lonely}


def _listed(html: str) -> list[str]:
    return re.findall(r'<span class="browse-text" lang="en">([^<]+)</span>', html)


def test_the_list_holds_the_active_questions_two_models_or_more_answered(bank):
    html = Client().get("/browse/").content.decode()
    assert _listed(html) == ["How do I sort a list in Python?", "Write a poem about rain"]
    assert "3 个模型作答" in html and "2 个模型作答" in html


def test_the_list_is_filtered_by_category_words_and_model(bank):
    client = Client()
    assert _listed(client.get("/browse/?category=CHAT").content.decode()) == ["Write a poem about rain"]
    assert _listed(client.get("/browse/?q=PYTHON").content.decode()) == ["How do I sort a list in Python?"]
    bank["poem"].text_en = "A translation about clouds"
    bank["poem"].save()
    assert _listed(client.get("/browse/?q=clouds").content.decode()) == ["Write a poem about rain"]
    gamma = bank["models"][2]
    html = client.get(f"/browse/?model={gamma.pk}").content.decode()
    assert _listed(html) == ["How do I sort a list in Python?"]
    # The question is opened with that model on side A.
    assert f'href="/browse/questions/{bank["sort"].pk}/?a={gamma.pk}"' in html
    html = client.get("/browse/?q=nothing+like+this").content.decode()
    assert _listed(html) == [] and "没有符合条件的题目" in html
    # Unknown filters are ignored, not errors.
    assert _listed(client.get("/browse/?category=NOPE&model=x&page=zz").content.decode()) == _listed(
        client.get("/browse/").content.decode()
    )


def test_the_list_pages_by_twenty_and_keeps_the_filters(bank):
    alpha, beta, _gamma = bank["models"]
    for number in range(25):
        _answered(
            QuestionFactory(text=f"Extra question {number:02d}", category=bank["poem"].category), alpha, beta
        )
    client = Client()
    first = client.get("/browse/?category=CHAT").content.decode()
    assert len(_listed(first)) == 20 and "第 1 页，共 2 页" in first
    assert 'href="?category=CHAT&amp;page=2"' in first
    second = client.get("/browse/?category=CHAT&page=2").content.decode()
    assert _listed(second) == [f"Extra question {number}" for number in range(19, 25)]


def test_the_english_interface_names_the_categories_in_english(bank):
    client = Client()
    client.cookies["arena_language"] = "en"
    html = client.get("/browse/").content.decode()
    assert '<option value="CODE">Code</option>' in html and "answered by 3 models" in html


def test_a_question_shows_two_answers_side_by_side_with_the_names(bank):
    alpha, beta, gamma = bank["models"]
    sort = bank["sort"]
    client = Client()
    html = client.get(f"/browse/questions/{sort.pk}/").content.decode()
    answers = {answer.contender_id: answer for answer in sort.answers.all()}
    # By default the first two models by name; each label carries its model's name and board link.
    assert (
        answers[alpha.pk].html in html
        and answers[beta.pk].html in html
        and answers[gamma.pk].html not in html
    )
    assert f'回答 A · <a class="model-name" href="/leaderboard/#contender-{alpha.pk}">Alpha</a>' in html
    assert f'回答 B · <a class="model-name" href="/leaderboard/#contender-{beta.pk}">Beta</a>' in html
    html = client.get(f"/browse/questions/{sort.pk}/?a={gamma.pk}&b={alpha.pk}").content.decode()
    assert html.index(answers[gamma.pk].html) < html.index(answers[alpha.pk].html)
    assert answers[beta.pk].html not in html
    # The same model twice, or one that did not answer: another model takes side B.
    html = client.get(f"/browse/questions/{sort.pk}/?a={gamma.pk}&b={gamma.pk}").content.decode()
    assert (
        ">Gamma</a></h2>" in html
        and f'回答 B · <a class="model-name" href="/leaderboard/#contender-{alpha.pk}">' in html
    )


def test_questions_that_cannot_be_browsed(bank):
    client = Client()
    assert client.get(f"/browse/questions/{bank['hidden'].pk}/").status_code == 404
    assert client.get("/browse/questions/999999/").status_code == 404
    response = client.get(f"/browse/questions/{bank['lonely'].pk}/")
    assert response.status_code == 200 and "目前回答这道题的模型不足两个" in response.content.decode()
    assert 'name="outcome"' not in response.content.decode()


def _give(client: Client, question, answer_a, answer_b, **fields) -> object:
    html = client.get(
        f"/browse/questions/{question.pk}/?a={answer_a.contender_id}&b={answer_b.contender_id}"
    ).content.decode()
    data = {"answer_a": answer_a.pk, "answer_b": answer_b.pk, "csrfmiddlewaretoken": csrf_token(html)}
    return client.post(f"/browse/questions/{question.pk}/verdict/", data | fields)


def test_a_signed_verdict_is_kept_apart_listed_and_replaced_by_the_next(bank):
    alpha, beta, _gamma = bank["models"]
    poem = bank["poem"]
    a, b = poem.answers.get(contender=alpha), poem.answers.get(contender=beta)
    client = Client(enforce_csrf_checks=True)
    response = _give(client, poem, a, b, outcome="b", name="  Lin Wei ", reason="Beta rhymes")
    assert response.status_code == 303
    assert (
        response["Location"]
        == f"/browse/questions/{poem.pk}/?a={alpha.pk}&b={beta.pk}&saved=1#named-verdicts"
    )
    assert "arena_voter" in response.cookies
    verdict = BrowseVerdict.objects.get()
    assert (verdict.name, verdict.outcome, verdict.reason, verdict.answer_a, verdict.answer_b) == (
        "Lin Wei",
        "b",
        "Beta rhymes",
        a,
        b,
    )
    html = client.get(response["Location"]).content.decode()
    assert "谢谢：你的判断已列在下方" in html and "这两个回答有 1 条署名判断" in html
    assert '<strong class="signed-name">Lin Wei</strong>' in html and "Beta 更好" in html
    # The name is offered again for the next verdict.
    assert 'name="name" required maxlength="80" autocomplete="nickname" value="Lin Wei"' in html
    # Seen the other way round, the same verdict still names Beta.
    html = client.get(f"/browse/questions/{poem.pk}/?a={beta.pk}&b={alpha.pk}").content.decode()
    assert "这两个回答有 1 条署名判断" in html and "Beta 更好" in html
    # A second verdict by the same reader on the same answers replaces the first.
    _give(client, poem, a, b, outcome="tie", name="Lin Wei")
    assert BrowseVerdict.objects.get().outcome == "tie"
    # Another reader's is listed beside it.
    _give(Client(), poem, a, b, outcome="a", name="<b>Zhao</b>")
    html = client.get(f"/browse/questions/{poem.pk}/?a={alpha.pk}&b={beta.pk}").content.decode()
    assert "这两个回答有 2 条署名判断" in html and "&lt;b&gt;Zhao&lt;/b&gt;" in html and "Alpha 更好" in html
    assert not Vote.objects.exists()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"outcome": "best", "name": "Lin"}, 400, "未知的判断"),
        ({"outcome": "a", "name": "   "}, 400, "请署名后再提交判断"),
        ({"outcome": "a", "name": "x" * 81}, 400, "署名不能超过 80 个字符"),
    ],
)
def test_a_verdict_with_bad_input_is_refused_with_a_reason(bank, fields, status, message):
    alpha, beta, _gamma = bank["models"]
    poem = bank["poem"]
    response = _give(
        Client(), poem, poem.answers.get(contender=alpha), poem.answers.get(contender=beta), **fields
    )
    html = response.content.decode()
    assert response.status_code == status and message in html
    # The page is the same comparison again, with what was typed kept.
    assert ">Alpha</a></h2>" in html and ">Beta</a></h2>" in html
    assert not BrowseVerdict.objects.exists()


def test_answers_that_cannot_be_compared_are_refused(bank):
    alpha, beta, _gamma = bank["models"]
    poem, sort = bank["poem"], bank["sort"]
    client = Client()
    other_question = sort.answers.get(contender=beta)
    second_sample = AnswerFactory(question=poem, contender=alpha, sample_index=1)
    failed = AnswerFactory(question=poem, contender=ContenderFactory(), status="failed")
    for answer_b in (other_question, second_sample, failed):
        response = _give(
            client, poem, poem.answers.get(contender=alpha, sample_index=0), answer_b, outcome="a", name="Lin"
        )
        assert response.status_code == 400 and "这两个回答无法比较" in response.content.decode()
    response = client.post(
        f"/browse/questions/{poem.pk}/verdict/", {"outcome": "a", "name": "Lin", "answer_a": "x"}
    )
    assert response.status_code == 400
    assert not BrowseVerdict.objects.exists()


def test_verdicts_from_one_address_are_limited(bank, settings):
    settings.ARENA_BROWSE_VERDICTS_PER_MINUTE_PER_IP = 2
    alpha, beta, gamma = bank["models"]
    sort = bank["sort"]
    a, b, c = (sort.answers.get(contender=model) for model in (alpha, beta, gamma))
    client = Client()
    assert _give(client, sort, a, b, outcome="a", name="Lin").status_code == 303
    assert _give(client, sort, a, c, outcome="a", name="Lin").status_code == 303
    response = _give(client, sort, b, c, outcome="a", name="Lin")
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "请等一分钟" in response.content.decode()
    assert BrowseVerdict.objects.count() == 2


def test_signed_verdicts_never_reach_the_boards(bank):
    alpha, beta, _gamma = bank["models"]
    VoteFactory(contender_a=alpha, contender_b=beta, outcome="a")
    ratings_refresh()
    before = RatingSnapshot.objects.latest("id")
    board_before = sorted(before.ratings.values_list("contender_id", "votes", "wins", "bt_rating"))
    pairs_before = sorted(PairCount.objects.values_list("contender_a", "contender_b", "outcome", "count"))
    poem = bank["poem"]
    a, b = poem.answers.get(contender=alpha), poem.answers.get(contender=beta)
    for reader in range(5):
        assert _give(Client(), poem, a, b, outcome="b", name=f"reader {reader}").status_code == 303
    ratings_refresh()
    after = RatingSnapshot.objects.latest("id")
    assert sorted(after.ratings.values_list("contender_id", "votes", "wins", "bt_rating")) == board_before
    assert (
        sorted(PairCount.objects.values_list("contender_a", "contender_b", "outcome", "count"))
        == pairs_before
    )
    assert Vote.objects.count() == 1 and BrowseVerdict.objects.count() == 5


def test_the_leaderboard_and_the_reveal_link_to_browse_mode():
    battle = BattleFactory(contender_a__name="Alpha", contender_b__name="Beta")
    client = Client()
    client.get("/")
    client.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    html = client.get(f"/battles/{battle.pk}/").content.decode()
    pair = f"a={battle.contender_a_id}&amp;b={battle.contender_b_id}"
    link = f'href="/browse/questions/{battle.question_id}/?{pair}"'
    assert link in html and "与其他模型对这道题的回答比较" in html
    ratings_refresh()
    html = client.get("/leaderboard/").content.decode()
    assert f'<a href="/browse/?model={battle.contender_a_id}" title="查看它的回答">Alpha</a>' in html
    assert '<a href="/browse/">浏览</a>' in html


def test_browse_mode_can_be_switched_off(bank, settings):
    settings.ARENA_BROWSE_ENABLED = False
    client = Client()
    assert client.get("/browse/").status_code == 404
    assert client.get(f"/browse/questions/{bank['poem'].pk}/").status_code == 404
    assert client.post(f"/browse/questions/{bank['poem'].pk}/verdict/", {}).status_code == 404
    assert "/browse/" not in client.get("/leaderboard/").content.decode()


def test_the_browse_pages_take_a_few_queries_whatever_the_bank(bank, django_assert_max_num_queries, settings):
    settings.ARENA_DB_PREPARED_STATEMENTS = False
    models = list(bank["models"]) + [ContenderFactory() for _ in range(5)]
    for number in range(30):
        _answered(QuestionFactory(text=f"Question {number}"), *models)
    client = Client()
    with django_assert_max_num_queries(4):  # categories, models, the page's questions and their count
        client.get("/browse/")
    with django_assert_max_num_queries(3):  # the question, its answers with their models, the verdicts
        client.get(f"/browse/questions/{bank['sort'].pk}/")
