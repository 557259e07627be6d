import re

import pytest
from django.test import Client

from battles.models import Answer, Battle, Vote
from battles.rendering import render_markdown
from ratings.services import ratings_refresh
from tests.factories import BattleFactory, ContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_battle_page_shows_question_answers_and_verdicts_without_names():
    battle = BattleFactory(contender_a__name="Alpha", contender_b__name="Beta", question__text="2 + 2 = ?")
    client = Client()
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "2 + 2 = ?" in html
    assert battle.answer_a.html in html and battle.answer_b.html in html
    assert "Alpha" not in html and "Beta" not in html
    for value in ("a", "b", "tie", "both_bad"):
        assert f'name="outcome" value="{value}"' in html
    assert response["Cache-Control"] == "no-store"
    assert "arena_voter" in response.cookies


def test_chinese_by_default_english_when_chosen():
    BattleFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    html = client.get("/").content.decode()
    assert '<html lang="zh-Hans">' in html and "A 更好" in html
    token = csrf_token(html)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "A is better" in html


def test_vote_requires_csrf_token():
    BattleFactory()
    client = Client(enforce_csrf_checks=True)
    html = client.get("/").content.decode()
    battle = Battle.objects.get(status=Battle.Status.SERVED)
    assert client.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"}).status_code == 403
    assert not Vote.objects.exists()
    response = client.post(
        f"/battles/{battle.pk}/vote/", {"outcome": "a", "csrfmiddlewaretoken": csrf_token(html)}
    )
    assert response.status_code == 303 and response["Location"] == f"/battles/{battle.pk}/"
    assert Vote.objects.get().outcome == "a"


def test_reveal_shows_names_and_verdict_and_next_button():
    battle = BattleFactory(contender_a__name="Alpha", contender_b__name="Beta")
    client = Client()
    client.get("/")
    client.post(f"/battles/{battle.pk}/vote/", {"outcome": "b"})
    html = client.get(f"/battles/{battle.pk}/").content.decode()
    assert "Alpha" in html and "Beta" in html
    assert "B 更好" in html
    assert 'href="/"' in html and "下一场" in html


def test_other_voters_cannot_see_or_vote_on_a_battle():
    battle = BattleFactory()
    owner, stranger = Client(), Client()
    owner.get("/")
    stranger.get("/")  # gets a cookie, but no battle is left
    response = stranger.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    assert response.status_code == 403
    assert not Vote.objects.exists()
    owner.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    assert stranger.get(f"/battles/{battle.pk}/").status_code == 404


def test_vote_without_cookie_is_refused():
    battle = BattleFactory()
    Client().get("/")
    response = Client().post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    assert response.status_code == 400
    assert not Vote.objects.exists()


def test_forged_voter_cookie_is_ignored():
    battle = BattleFactory()
    owner = Client()
    owner.get("/")
    forger = Client()
    forger.cookies["arena_voter"] = str(Battle.objects.get().voter_id)  # the id, but not signed
    response = forger.post(f"/battles/{battle.pk}/vote/", {"outcome": "a"})
    assert response.status_code == 400
    assert not Vote.objects.exists()


def test_waiting_page_when_no_battle_is_ready():
    response = Client().get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'http-equiv="refresh"' in html and "正在准备" in html


def test_answer_markup_is_sanitised_on_the_page():
    battle = BattleFactory()
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))"
    Answer.objects.filter(pk=battle.answer_a_id).update(text=payload, html=render_markdown(payload))
    html = Client().get("/").content.decode()
    assert "<script>alert" not in html and "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_leaderboard_page_lists_latest_snapshot():
    first, second = ContenderFactory(name="Alpha"), ContenderFactory(name="Beta")
    VoteFactory(contender_a=second, contender_b=first, outcome="b")
    ratings_refresh()
    html = Client().get("/leaderboard/").content.decode()
    assert html.index("Alpha") < html.index("Beta")
    assert "100.0%" in html and "1002" in html and "998" in html


def test_leaderboard_page_without_votes():
    html = Client().get("/leaderboard/").content.decode()
    assert "还没有投票" in html


def test_query_counts_of_the_voting_pages(django_assert_num_queries, settings):
    # Counted without preparing statements: a session's first run of each would add its PREPARE.
    settings.ARENA_DB_PREPARED_STATEMENTS = False
    first, second = BattleFactory(), BattleFactory()
    client = Client()
    # A first visit: count the battles the address holds, create the voter, look for the battles it
    # holds (served, drawn for it), then in one round trip take the address's lock and claim a battle
    # from the pool if the address holds fewer than its cap (here inside a savepoint of the test's own
    # transaction: two more).
    with django_assert_num_queries(6):
        html = client.get("/").content.decode()
    battle_id = int(re.search(r"/battles/(\d+)/vote/", html).group(1))
    # The same voter again: the battle already served comes back at once.
    with django_assert_num_queries(2):
        client.get("/")
    # The voter, then one statement closes the battle, stores the vote and counts it.
    with django_assert_num_queries(2):
        client.post(f"/battles/{battle_id}/vote/", {"outcome": "a"})
    with django_assert_num_queries(3):  # voter, battle with both answers and names, vote count
        client.get(f"/battles/{battle_id}/")
    assert {first.pk, second.pk} >= {battle_id}
