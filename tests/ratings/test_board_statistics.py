"""What the refresh stores beyond the plain fit, end to end through the database: the style-controlled
board and its coefficients, rank spread and fragility, decoding variance, retired contenders and the
weak prior; and how the page, the API and `manage.py leaderboard` show them."""

import json
import random
import re
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone, translation

from battles.models import Answer, Battle, Vote
from ratings import algorithms
from ratings.decoding import SampledVotes, decoding_variance
from ratings.fragility import neighbour_fragility, rank_spread
from ratings.models import ContenderRating, RatingSnapshot
from ratings.services import ratings_rebuild, ratings_refresh
from ratings.services.answered_votes import answered_votes_forget
from ratings.services.board_statistics import sampling_figures
from ratings.style import style_bradley_terry
from ratings.style_features import answer_style_features, style_covariates
from ratings.templatetags.ratings_format import signed_or_dash
from ratings.views import _style_labels
from tests.factories import AnswerFactory, ContenderFactory, QuestionFactory, VoteFactory, VoterFactory

pytestmark = pytest.mark.django_db

OUTCOME_CODES = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}


def _answer_text(generator: random.Random, words: int, decorated: bool) -> str:
    body = " ".join(generator.choice(["数据", "模型", "answer", "回答", "result"]) for _ in range(words))
    if not decorated:
        return body
    return f"## 要点\n\n- **{body[:12]}**\n- {body}\n"


def styled_arena(*, samples: int = 1, votes: int = 240, seed: int = 3, markdown: bool = True) -> dict:
    """Three contenders of equal skill, six questions. "long" mostly writes long decorated answers,
    "short" mostly terse ones, with overlap; voters prefer the longer answer 3 times in 4. Without
    `markdown` no answer is decorated (the same draws otherwise)."""
    generator = random.Random(seed)
    contenders = [ContenderFactory(name=name) for name in ("long", "plain", "short")]
    base = {"long": 90, "plain": 55, "short": 20}
    questions = [QuestionFactory() for _ in range(6)]
    answers = {
        (question.pk, contender.pk, sample): AnswerFactory(
            question=question,
            contender=contender,
            sample_index=sample,
            text=_answer_text(
                generator,
                max(3, base[contender.name] + generator.randint(-45, 45)),
                generator.random() < base[contender.name] / 100 and markdown,
            ),
        )
        for question in questions
        for contender in contenders
        for sample in range(samples)
    }
    voter = VoterFactory()
    for _ in range(votes):
        question = generator.choice(questions)
        first, second = generator.sample(contenders, 2)
        answer_a = answers[(question.pk, first.pk, generator.randrange(samples))]
        answer_b = answers[(question.pk, second.pk, generator.randrange(samples))]
        longer = answer_a.style_length > answer_b.style_length
        draw = generator.random()
        outcome = "tie" if draw < 0.1 else ("a" if (generator.random() < 0.75) == longer else "b")
        battle = Battle.objects.create(
            question=question,
            contender_a=first,
            contender_b=second,
            answer_a=answer_a,
            answer_b=answer_b,
            status=Battle.Status.VOTED,
            voter=voter,
            served_at=timezone.now(),
        )
        VoteFactory(battle=battle, contender_a=first, contender_b=second, outcome=outcome, voter=voter)
    return {"contenders": contenders, "answers": answers}


def _vote_arrays(contender_ids: list[int]) -> dict[str, np.ndarray]:
    """Every vote with a battle, as the arrays the rating math takes (independent of the refresh's
    own loading)."""
    index = {contender_id: position for position, contender_id in enumerate(contender_ids)}
    rows = list(
        Vote.objects.filter(battle__isnull=False)
        .order_by("id")
        .values_list(
            "contender_a_id", "contender_b_id", "outcome", "battle__answer_a_id", "battle__answer_b_id"
        )
    )
    texts = dict(Answer.objects.values_list("pk", "text"))
    groups = {
        pk: (question, contender)
        for pk, question, contender in Answer.objects.values_list("pk", "question_id", "contender_id")
    }
    group_ids = {key: number for number, key in enumerate(sorted(set(groups.values())))}
    return {
        "side_a": np.array([index[row[0]] for row in rows]),
        "side_b": np.array([index[row[1]] for row in rows]),
        "outcome": np.array([OUTCOME_CODES[row[2]] for row in rows]),
        "features_a": np.array([answer_style_features(texts[row[3]]) for row in rows], dtype=float),
        "features_b": np.array([answer_style_features(texts[row[4]]) for row in rows], dtype=float),
        "answer_a": np.array([row[3] for row in rows]),
        "answer_b": np.array([row[4] for row in rows]),
        "group_a": np.array([group_ids[groups[row[3]]] for row in rows]),
        "group_b": np.array([group_ids[groups[row[4]]] for row in rows]),
    }


def _rows(snapshot: RatingSnapshot) -> dict[str, ContenderRating]:
    return {row.contender.name: row for row in snapshot.ratings.select_related("contender")}


# --- Style control ---------------------------------------------------------------------------------


def test_the_style_board_is_the_style_fit_of_the_votes_with_both_answers():
    arena = styled_arena()
    # Imported votes without answers count on the raw board, not on the style-controlled one.
    long, plain, _short = arena["contenders"]
    for outcome in ("a", "b", "a"):
        VoteFactory(contender_a=long, contender_b=plain, outcome=outcome)
    snapshot = ratings_refresh()
    ids = sorted(contender.pk for contender in arena["contenders"])
    votes = _vote_arrays(ids)
    covariates = style_covariates(votes["features_a"], votes["features_b"])
    expected = style_bradley_terry(
        votes["side_a"],
        votes["side_b"],
        votes["outcome"],
        covariates.values,
        3,
        covariate_names=covariates.names,
    )
    stored = snapshot.ratings.order_by("contender_id")
    assert [row.style_rating for row in stored] == pytest.approx(expected.ratings.tolist(), abs=1e-9)
    assert [row.style_low for row in stored] == pytest.approx(expected.low.tolist(), abs=1e-9)
    assert [row.style_high for row in stored] == pytest.approx(expected.high.tolist(), abs=1e-9)
    assert [row.style_rank for row in stored] == expected.ranks.tolist()
    style = snapshot.parameters["style"]
    assert style["votes"] == 240 and snapshot.vote_count == 243
    assert [item["name"] for item in style["coefficients"]] == ["length", "headers", "lists", "bold"]
    length = style["coefficients"][0]
    points = algorithms.RATING_PER_LOG_STRENGTH * expected.coefficients[0]
    assert length["value"] == pytest.approx(points, abs=1e-3)
    assert length["low"] < length["value"] < length["high"]
    # Voters preferred longer answers: length is worth points, and holding it constant narrows the
    # gap between the long and the short writer.
    assert length["low"] > 0
    rows = _rows(snapshot)
    raw_gap = rows["long"].bt_rating - rows["short"].bt_rating
    style_gap = rows["long"].style_rating - rows["short"].style_rating
    assert raw_gap > 100 and abs(style_gap) < raw_gap / 2


def test_style_control_can_be_turned_off(settings):
    settings.ARENA_STYLE_CONTROL = False
    styled_arena(votes=60)
    snapshot = ratings_refresh()
    assert "style" not in snapshot.parameters
    assert all(row.style_rating is None for row in snapshot.ratings.all())


def test_votes_held_in_memory_follow_new_votes_and_exclusions():
    """The worker keeps the votes with their answers between refreshes: new votes are added, and a
    vote left out makes it read them all again, so the style board always fits the counted votes."""
    arena = styled_arena(votes=120)
    first = ratings_refresh()
    long, plain, _ = arena["contenders"]
    battle = Battle.objects.filter(vote__isnull=False).order_by("id").first()
    more = [
        VoteFactory(
            battle=Battle.objects.create(
                question=battle.question,
                contender_a=long,
                contender_b=plain,
                answer_a=Answer.objects.get(question=battle.question, contender=long),
                answer_b=Answer.objects.get(question=battle.question, contender=plain),
                status=Battle.Status.VOTED,
                voter=battle.voter,
                served_at=timezone.now(),
            ),
            voter=battle.voter,
            contender_a=long,
            contender_b=plain,
            outcome="b",
        )
        for _ in range(5)
    ]
    second = ratings_refresh()
    assert (first.parameters["style"]["votes"], second.parameters["style"]["votes"]) == (120, 125)
    Vote.objects.filter(pk__in=[vote.pk for vote in more[:2]]).update(excluded_reasons="staff")
    ratings_rebuild()
    third = RatingSnapshot.objects.filter(category=None).latest()
    assert third.parameters["style"]["votes"] == 123
    held = [row.style_rating for row in third.ratings.order_by("contender_id")]
    answered_votes_forget()  # read from scratch: the same numbers
    fresh = ratings_refresh(force=True)
    assert [row.style_rating for row in fresh.ratings.order_by("contender_id")] == pytest.approx(
        held, abs=1e-9
    )


# --- Rank spread and fragility -----------------------------------------------------------------------


def test_rank_spread_and_robustness_are_stored_as_the_rating_math_gives_them(settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 200
    generator = random.Random(11)
    contenders = [ContenderFactory(name=f"m{number}") for number in range(5)]
    strength = {contender.pk: 40 * number for number, contender in enumerate(contenders)}
    for _ in range(400):
        a, b = generator.sample(contenders, 2)
        p = 1 / (1 + 10 ** ((strength[b.pk] - strength[a.pk]) / 400))
        VoteFactory(contender_a=a, contender_b=b, outcome="a" if generator.random() < p else "b")
    snapshot = ratings_refresh()
    ids = sorted(strength)
    votes = Vote.objects.order_by("id").values_list("contender_a_id", "contender_b_id", "outcome")
    counts = algorithms.PairCounts.from_votes(
        [ids.index(a) for a, _, _ in votes],
        [ids.index(b) for _, b, _ in votes],
        [OUTCOME_CODES[outcome] for _, _, outcome in votes],
        5,
    )
    result = algorithms.ratings_compute(counts, bootstrap_rounds=200, seed=0)
    best, worst = rank_spread(result.bootstrap_low, result.bootstrap_high)
    fragility = {pair.upper: pair.votes for pair in neighbour_fragility(counts, result.fit, max_votes=1000)}
    stored = list(snapshot.ratings.order_by("contender_id"))
    assert [row.rank for row in stored] == best.tolist()
    assert [row.rank_worst for row in stored] == worst.tolist()
    assert [row.robust_votes for row in stored] == [fragility.get(index) for index in range(5)]
    # Close neighbours: some interval allows several ranks, and every lead rests on a finite number of
    # votes except the last contender's (no one below it).
    assert max(worst - best) >= 1
    assert sum(row.robust_votes is None for row in stored) == 1


# --- Decoding variance -----------------------------------------------------------------------------


def test_decoding_variance_is_stored_where_contenders_have_several_samples(settings):
    settings.ARENA_DECODING_ROUNDS = 50
    styled_arena(samples=2, votes=300)
    snapshot = ratings_refresh()
    ids = sorted(snapshot.ratings.values_list("contender_id", flat=True))
    votes = _vote_arrays(ids)
    sampled = SampledVotes(
        side_a=votes["side_a"],
        side_b=votes["side_b"],
        outcome=votes["outcome"],
        answer_a=votes["answer_a"],
        answer_b=votes["answer_b"],
        group_a=votes["group_a"],
        group_b=votes["group_b"],
        contender_count=3,
    )
    fit = algorithms.bradley_terry(sampled.counts())
    expected = decoding_variance(sampled, fit, rounds=50, seed=0)
    stored = list(snapshot.ratings.order_by("contender_id"))
    excess = np.clip(expected.excess_ratio, 0, None)
    assert [row.sampling_half_width for row in stored] == pytest.approx(
        (expected.vote_half_width * np.sqrt(excess)).tolist(), abs=1e-9
    )
    assert [row.sampling_share for row in stored] == pytest.approx(
        (excess / (1 + excess)).tolist(), abs=1e-12
    )
    assert all(0 <= row.sampling_share < 1 for row in stored)
    assert snapshot.parameters["decoding"]["votes"] == 300


def test_no_decoding_variance_with_one_sample_per_question():
    styled_arena(samples=1, votes=60)
    snapshot = ratings_refresh()
    assert all(row.sampling_share is None for row in snapshot.ratings.all())
    assert "decoding" not in snapshot.parameters


# --- Retired contenders ----------------------------------------------------------------------------


def test_a_retired_contender_stays_in_the_fit_and_leaves_the_board_unless_asked_for(settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 100
    generator = random.Random(5)
    contenders = [ContenderFactory(name=name) for name in ("top", "old", "mid", "low")]
    strength = {"top": 300, "old": 200, "mid": 100, "low": 0}
    for _ in range(300):
        a, b = generator.sample(contenders, 2)
        p = 1 / (1 + 10 ** ((strength[b.name] - strength[a.name]) / 400))
        VoteFactory(contender_a=a, contender_b=b, outcome="a" if generator.random() < p else "b")
    before = _rows(ratings_refresh())
    contenders[1].is_retired = True
    contenders[1].save()
    after = _rows(ratings_refresh(force=True))
    # Still in the fit: nobody's rating moves.
    assert {name: row.bt_rating for name, row in after.items()} == pytest.approx(
        {name: row.bt_rating for name, row in before.items()}, abs=1e-9
    )
    client = Client()
    client.cookies["arena_language"] = "en"
    page = client.get("/leaderboard/").content.decode()
    assert ">old<" not in page and "Show 1 retired model" in page
    shown = client.get("/leaderboard/?retired=1").content.decode()
    assert ">old</a>" in shown or ">old <" in shown or "old" in shown
    assert "retired</span>" in shown and "Hide retired models" in shown
    body = client.get("/api/v1/leaderboard/").json()
    assert [row["contender"]["name"] for row in body["ratings"]] == ["top", "mid", "low"]
    everyone = client.get("/api/v1/leaderboard/", {"retired": "true"}).json()
    assert [row["contender"]["name"] for row in everyone["ratings"]] == ["top", "old", "mid", "low"]
    assert [row["retired"] for row in everyone["ratings"]] == [False, True, False, False]
    # Ranks are among the contenders shown: hiding "old" leaves no gap.
    visible = {row["contender"]["name"]: row["rank"] for row in body["ratings"]}
    with_old = {row["contender"]["name"]: row["rank"] for row in everyone["ratings"]}
    assert visible["low"] <= with_old["low"]
    out = StringIO()
    call_command("leaderboard", "--json", stdout=out)
    assert [row["name"] for row in json.loads(out.getvalue())] == ["top", "mid", "low"]
    out = StringIO()
    call_command("leaderboard", "--json", "--retired", stdout=out)
    assert [row["name"] for row in json.loads(out.getvalue())] == ["top", "old", "mid", "low"]


# --- The weak prior --------------------------------------------------------------------------------


def test_the_weak_prior_tames_a_contender_with_three_votes_and_keeps_the_plain_fit(settings):
    settings.ARENA_BOOTSTRAP_ROUNDS = 200
    generator = random.Random(2)
    regulars = [ContenderFactory(name=f"r{number}") for number in range(4)]
    for _ in range(400):
        a, b = generator.sample(regulars, 2)
        VoteFactory(contender_a=a, contender_b=b, outcome=generator.choice(["a", "b", "tie"]))
    newcomer = ContenderFactory(name="newcomer")
    for outcome in ("a", "a", "a"):  # three wins: the plain fit has no finite estimate
        VoteFactory(contender_a=newcomer, contender_b=regulars[0], outcome=outcome)
    plain = _rows(ratings_refresh())
    settings.ARENA_RATING_PRIOR_POINTS = 200
    with_prior = _rows(ratings_refresh(force=True))
    plain_width = plain["newcomer"].ci_high - plain["newcomer"].ci_low
    prior_width = with_prior["newcomer"].ci_high - with_prior["newcomer"].ci_low
    assert plain_width > 1500 and prior_width < 800
    # The unregularised board is kept beside it, equal to the board without the prior.
    for name, row in with_prior.items():
        assert row.mle_rating == pytest.approx(plain[name].bt_rating, abs=1e-6)
        assert (row.mle_low, row.mle_high) == pytest.approx(
            (plain[name].ci_low, plain[name].ci_high), abs=1e-6
        )
        assert plain[name].mle_rating is None
    snapshot = RatingSnapshot.objects.filter(category=None).latest()
    assert snapshot.parameters["prior_points"] == 200


# --- Showing the boards ----------------------------------------------------------------------------


def test_the_page_api_and_command_switch_to_the_style_controlled_board():
    styled_arena()
    snapshot = ratings_refresh()
    by_style = sorted(
        snapshot.ratings.select_related("contender"), key=lambda row: (row.style_rank, -row.style_rating)
    )
    client = Client()
    client.cookies["arena_language"] = "en"
    body = client.get("/api/v1/leaderboard/", {"board": "style"}).json()
    assert body["board"] == "style"
    assert [row["contender"]["name"] for row in body["ratings"]] == [row.contender.name for row in by_style]
    error = client.get("/api/v1/leaderboard/", {"board": "fancy"})
    assert error.status_code == 400 and "board" in error.json()["error"]["message"]
    page = client.get("/leaderboard/?board=style").content.decode()
    assert "Style-controlled rating" in page and "What style is worth" in page
    assert 'aria-current="page">Style controlled' in page
    assert page.index(f">{by_style[0].contender.name}<") < page.index(f">{by_style[-1].contender.name}<")
    raw = client.get("/leaderboard/").content.decode()
    assert "Lead robust to" in raw and 'aria-current="page">As voted' in raw
    assert client.get("/leaderboard/?board=fancy").status_code == 400
    out = StringIO()
    call_command("leaderboard", "--json", "--style", stdout=out)
    assert [row["name"] for row in json.loads(out.getvalue())] == [row.contender.name for row in by_style]
    out = StringIO()
    call_command("leaderboard", "--style", stdout=out)
    assert "Style-controlled, from 240 votes" in out.getvalue() and "length" in out.getvalue()


def test_a_style_covariate_the_same_for_every_vote_is_shown_as_such_not_as_zero():
    """A constant column (no answer with a header, or every answer with the same number of them) is
    fitted as exactly 0 with an interval of no width: the table says there was nothing to fit rather
    than that the feature is worth 0 points. The flag is the fit's own, stored with the coefficient."""
    every_answer_one_header = [[120, 1, 0, 0], [80, 1, 2, 0], [200, 1, 5, 1]]
    covariates = style_covariates(every_answer_one_header, [[60, 1, 0, 0], [90, 1, 1, 0], [40, 1, 0, 2]])
    assert covariates.constant.tolist() == [False, True, False, False]
    coefficients = [
        {"name": "length", "value": 121.234, "low": -8.61, "high": 250.9, "constant": False},
        {"name": "headers", "value": 0.0, "low": 0.0, "high": 0.0, "constant": True},
    ]
    with translation.override("en"):
        html = render_to_string(
            "ratings/_style_coefficients.html", {"style_coefficients": _style_labels(coefficients)}
        )
    assert re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", html) == [
        ("Length", '<td class="number">121.2</td><td class="number">−8.6 – 250.9</td>'),
        ("Headers", '<td class="hint" colspan="2">no difference between the answers to fit</td>'),
    ]


def test_the_command_says_which_style_covariates_had_nothing_to_fit():
    styled_arena(markdown=False)
    snapshot = ratings_refresh()
    coefficients = snapshot.parameters["style"]["coefficients"]
    assert [(item["name"], item["constant"]) for item in coefficients] == [
        ("length", False),
        ("headers", True),
        ("lists", True),
        ("bold", True),
    ]
    out = StringIO()
    call_command("leaderboard", "--style", stdout=out)
    lines = out.getvalue().splitlines()
    assert "  headers  no difference between the answers to fit" in lines
    assert "  bold     no difference between the answers to fit" in lines
    assert any(line.startswith("  length   +") for line in lines)


def test_sampling_figures_count_only_what_the_samples_differences_add():
    """A contender whose first sample to each question always wins and second always loses: most of
    its uncertainty comes from sampling. Its opponents have one answer each: none of theirs does."""
    generator = np.random.default_rng(4)
    side_a, side_b, outcome, answer_a, answer_b, group_a, group_b = ([] for _ in range(7))
    for question in range(8):
        for _ in range(60):
            opponent = int(generator.integers(1, 3))
            sample = int(generator.integers(0, 2))
            side_a.append(0)
            side_b.append(opponent)
            outcome.append(0 if sample == 0 else 1)
            answer_a.append(1000 + 2 * question + sample)
            answer_b.append(2000 + 10 * question + opponent)
            group_a.append(100 + question)
            group_b.append(200 + 10 * question + opponent)
    for _ in range(200):  # the opponents against each other
        side_a.append(1)
        side_b.append(2)
        outcome.append(int(generator.integers(0, 2)))
        question = int(generator.integers(0, 8))
        answer_a.append(2000 + 10 * question + 1)
        answer_b.append(2000 + 10 * question + 2)
        group_a.append(200 + 10 * question + 1)
        group_b.append(200 + 10 * question + 2)
    votes = SampledVotes(
        *(np.array(values) for values in (side_a, side_b, outcome, answer_a, answer_b, group_a, group_b)),
        contender_count=3,
    )
    variance = decoding_variance(votes, algorithms.bradley_terry(votes.counts()), rounds=200, seed=1)
    half_width, share = sampling_figures(variance)
    assert variance.excess_ratio[0] > 1
    assert share[0] == pytest.approx(variance.excess_ratio[0] / (1 + variance.excess_ratio[0]))
    assert share[0] > 0.5 and half_width[0] > variance.vote_half_width[0]
    assert np.isnan(share[1:]).all() and np.isnan(half_width[1:]).all()


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [(0.6234, 2, "0.62"), (-0.1, 2, "−0.10"), (-0.001, 2, "0.00"), (-0.04, 1, "0.0"), (None, 1, "—")],
)
def test_signed_figures_use_the_minus_sign_and_never_sign_a_zero(value, digits, shown):
    assert signed_or_dash(value, digits) == shown
