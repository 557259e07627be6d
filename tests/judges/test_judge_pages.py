"""The judge board where people and programs read it: the leaderboard page (?board=judge), the switch
to it on the human board, the API, `manage.py leaderboard --board judge`, and the demo judge that
`demo_load` sets up. The board is made without a worker: verdicts written as done, then refreshed."""

import datetime as dt
import json
import re
from html.parser import HTMLParser
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from rest_framework.test import APIClient

from battles.models import Battle, Contender, Vote
from judges.models import Judge, JudgeRating, JudgeSnapshot, Verdict
from judges.services.board import judge_boards_refresh
from judges.services.judges import judge_save
from ratings.models import ContenderRating
from ratings.services.refresh import ratings_refresh
from tests.factories import (
    AnswerFactory,
    BattleFactory,
    CategoryFactory,
    ContenderFactory,
    QuestionFactory,
    VoteFactory,
    VoterFactory,
)
from tests.judges.helpers import verdict_make

pytestmark = pytest.mark.django_db

# Xenon writes long answers, Yttrium short ones (style length counts Latin words).
TEXTS = {"Xenon": " ".join(["thorough"] * 40), "Yttrium": "Short.", "Zinc": " ".join(["middling"] * 12)}


# --- Making a judge board without a worker ---------------------------------------------------------


def _battle(a: Contender, b: Contender, category, number: int) -> Battle:
    question = QuestionFactory(text=f"Question {number}?", category=category)
    return BattleFactory(
        question=question,
        contender_a=a,
        contender_b=b,
        answer_a=AnswerFactory(question=question, contender=a, text=f"{number} {TEXTS[a.name]}"),
        answer_b=AnswerFactory(question=question, contender=b, text=f"{number} {TEXTS[b.name]}"),
    )


def _vote(battle: Battle, outcome: str) -> None:
    voter = VoterFactory()
    Battle.objects.filter(pk=battle.pk).update(
        status=Battle.Status.VOTED, voter=voter, served_at=timezone.now()
    )
    VoteFactory(
        battle=battle,
        voter=voter,
        contender_a=battle.contender_a,
        contender_b=battle.contender_b,
        category=battle.question.category,
        outcome=outcome,
    )


def verdicts_done(judge: Judge, battle: Battle, shown: int, swapped: int) -> None:
    """Both orders of a battle judged, scores in the battle's orientation."""
    for order, score in (("shown", shown), ("swapped", swapped)):
        verdict_make(
            judge,
            battle,
            order,
            status=Verdict.Status.DONE,
            score=score,
            label="A=B",
            finished_at=timezone.now(),
        )


def human_board(settings) -> dict:
    """Xenon and Yttrium voted on twice (Xenon won both), Zinc never: the human board."""
    settings.ARENA_PRELIMINARY_VOTES = 2
    category = CategoryFactory(code="QA", name="知识问答", name_en="Knowledge")
    x, y, z = (ContenderFactory(name=name) for name in ("Xenon", "Yttrium", "Zinc"))
    b1, b2 = _battle(x, y, category, 1), _battle(x, y, category, 2)
    _vote(b1, Vote.Outcome.A)
    _vote(b2, Vote.Outcome.A)
    assert ratings_refresh(force=True) is not None
    assert ratings_refresh(category=category, force=True) is not None
    return {"category": category, "x": x, "y": y, "z": z, "b1": b1, "b2": b2}


def judge_board(settings) -> dict:
    """The human board, two ready battles of Zinc's, and one judge's verdicts on all four battles:
    b1 Xenon–Yttrium (voted A): +2, +1   → judge A, agrees
    b2 Xenon–Yttrium (voted A): −1, −1   → judge B, disagrees
    b3 Xenon–Zinc:              +1, +1
    b4 Yttrium–Zinc:             0, +1   → flips (a tie, then A)
    """
    made = human_board(settings)
    x, y, z, category = made["x"], made["y"], made["z"], made["category"]
    b3, b4 = _battle(x, z, category, 3), _battle(y, z, category, 4)
    judge, _ = judge_save(contender=ContenderFactory(name="Arbiter", sampling_weight=0))
    for battle, shown, swapped in ((made["b1"], 2, 1), (made["b2"], -1, -1), (b3, 1, 1), (b4, 0, 1)):
        verdicts_done(judge, battle, shown, swapped)
    written = judge_boards_refresh(force=True)
    assert [snapshot.category for snapshot in written] == [None, category]
    return {**made, "judge": judge, "snapshot": written[0], "category_snapshot": written[1]}


# Worked out by hand from the verdicts above (the docstring of judge_board).
AGREEMENT = {
    "verdicts": 8,
    "battles_both_orders": 4,
    "battles": 2,
    "agree_share": 0.5,
    "kappa": 0.0,  # judge A, B; voters A, A: p_o = 1/2 = p_e
    "confusion": [[0, 0, 1], [0, 0, 0], [0, 0, 1]],
    "flip_rate": 0.25,
    "first_shown_win_share": 0.4286,  # 3 of the 7 decisive verdicts
    "judge_longer_share": 0.5,  # Xenon's longer answer won b1, lost b2
    "human_longer_share": 1.0,
    "contenders": 2,
    "spearman": 1.0,
    "kendall": 1.0,
}
# Games (a strong win counts 3): wins, losses, ties, verdicts.
GAMES = {"Xenon": (6, 2, 0, 6), "Yttrium": (3, 4, 1, 6), "Zinc": (0, 3, 1, 4)}


def test_the_board_made_for_these_tests_has_the_hand_worked_figures(settings):
    made = judge_board(settings)
    snapshot = made["snapshot"]
    (agreement,) = snapshot.agreement
    assert {key: agreement[key] for key in AGREEMENT} == AGREEMENT
    assert (agreement["judge"], agreement["judge_id"], agreement["statuses"]) == (
        "Arbiter",
        made["judge"].pk,
        {"done": 8},
    )
    rows = list(snapshot.ratings.select_related("contender").order_by("-rating"))
    assert [row.contender.name for row in rows] == ["Xenon", "Yttrium", "Zinc"]
    assert {row.contender.name: (row.wins, row.losses, row.ties, row.verdicts) for row in rows} == GAMES
    assert {row.contender.name: (row.human_votes, row.is_cold_start) for row in rows} == {
        "Xenon": (2, False),
        "Yttrium": (2, False),
        "Zinc": (0, True),
    }
    (category_agreement,) = made["category_snapshot"].agreement
    assert {key: category_agreement[key] for key in AGREEMENT} == AGREEMENT
    assert "statuses" not in category_agreement


# --- Reading the page ------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table as its header cells and rows of cell texts; phone-only copies left out."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._open: list[dict] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self._hidden:
            self._hidden += tag == "span"
        elif tag == "span" and "phone-only" in classes:
            self._hidden = 1
        elif tag == "table":
            self._open.append({"class": classes, "rows": []})
        elif tag == "tr" and self._open:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            self._hidden -= tag == "span"
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._open[-1]["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._hidden:
            self._cell.append(data)


def tables_of(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def page_tables(html: str) -> tuple[dict, dict, dict]:
    """The judge board, the agreement of its judges, and their agreement by category."""
    tables = tables_of(html)
    (board,) = [table for table in tables if "leaderboard" in table["class"]]
    agreement, by_category = [table for table in tables if "agreement-table" in table["class"]]
    return board, agreement, by_category


def get(path: str, *, language: str | None = None) -> str:
    client = Client()
    if language:
        client.cookies["arena_language"] = language
    response = client.get(path)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def board_rows(snapshot: JudgeSnapshot) -> list[JudgeRating]:
    return list(snapshot.ratings.select_related("contender").order_by("rank", "-rating", "contender__name"))


def expected_board_cells(snapshot: JudgeSnapshot, language: str) -> list[list[str]]:
    rows = board_rows(snapshot)
    any_style = any(row.style_rating is not None for row in rows)
    cells = []
    with translation.override(language):
        for row in rows:
            spread = f"{row.rank}–{row.rank_worst}" if row.rank_worst > row.rank else ""
            mark = f" {gettext('judges only')}" if row.is_cold_start else ""
            votes = (
                ngettext("%(counter)s vote", "%(counter)s votes", row.human_votes)
                % {"counter": row.human_votes}
                if row.human_votes
                else ""
            )
            style = []
            if any_style:
                style = [
                    "—"
                    if row.style_rating is None
                    else f"{row.style_rating:.0f} {row.style_low:.0f}–{row.style_high:.0f}"
                ]
            cells.append(
                [
                    f"{row.rank}{spread}",
                    row.contender.name + mark,
                    f"{row.rating:.0f}",
                    f"{row.low:.0f} – {row.high:.0f}",
                    *style,
                    ("—" if row.human_rank is None else str(row.human_rank)) + votes,
                    "—" if row.human_rating is None else f"{row.human_rating:.0f}",
                    str(row.verdicts),
                    f"{row.wins} / {row.losses} / {row.ties}",
                ]
            )
    return cells


def test_the_judge_board_page_in_english(settings):
    made = judge_board(settings)
    snapshot = made["snapshot"]
    html = get("/leaderboard/?board=judge", language="en")

    board, agreement, by_category = page_tables(html)
    any_style = any(row.style_rating is not None for row in board_rows(snapshot))
    assert board["rows"][0] == [
        "Rank",
        "Model",
        "Judge rating",
        "Interval (95%)",
        *(["Style controlled"] if any_style else []),
        "Voters' rank",
        "Voters' rating",
        "Verdicts",
        "Games won / lost / tied",
    ]
    assert board["rows"][1:] == expected_board_cells(snapshot, "en")
    assert [row[1] for row in board["rows"][1:]] == ["Xenon", "Yttrium", "Zinc judges only"]
    assert [row[-1] for row in board["rows"][1:]] == ["6 / 2 / 0", "3 / 4 / 1", "0 / 3 / 1"]
    assert agreement["rows"] == [
        [
            "Judge",
            "Battles compared",
            "Same verdict",
            "Cohen's κ",
            "Spearman ρ",
            "Kendall τ",
            "Flips when swapped",
            "First answer wins",
            "Longer answer wins: judge / voters",
        ],
        ["Arbiter", "2", "50.0%", "0.00", "1.00", "1.00", "25.0%", "42.9%", "50.0% / 100.0%"],
    ]
    assert by_category["rows"][1:] == [
        ["Knowledge", "2", "50.0%", "0.00", "1.00", "1.00", "25.0%", "50.0% / 100.0%"]  # one judge: no column
    ]
    # No answer has a header, a list or bold text: only length differs between answers, and the
    # other three are shown as having nothing to fit, not as worth 0 points.
    coefficients = snapshot.parameters["style"]["coefficients"]
    assert [(item["name"], item["constant"]) for item in coefficients] == [
        ("length", False),
        ("headers", True),
        ("lists", True),
        ("bold", True),
    ]
    assert html.count("no difference between the answers to fit") == 3
    # On a phone a judge's row is a card: each figure carries its heading.
    assert '<td class="number" data-label="Flips when swapped">25.0%</td>' in html
    assert '<td class="number" data-label="Longer answer wins: judge / voters">50.0% / 100.0%</td>' in html
    taken = timezone.localtime(snapshot.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"8 verdicts by LLM judges, updated {taken} UTC." in html
    assert "Fewer than 2 human votes so far: until the voters have their say" in html
    assert '<a href="?board=judge" aria-current="page">LLM judges</a>' in html


def test_the_judge_board_page_in_chinese_by_default(settings):
    made = judge_board(settings)
    html = get("/leaderboard/?board=judge")

    assert '<html lang="zh-Hans">' in html
    board, agreement, by_category = page_tables(html)
    with translation.override("zh-hans"):
        rank, model = gettext("Rank"), gettext("Model")
        cold = gettext("judges only")
    assert board["rows"][0][:2] == [rank, model] == ["排名", "模型"]
    assert board["rows"][1:] == expected_board_cells(made["snapshot"], "zh-hans")
    assert [row[1] for row in board["rows"][1:]] == ["Xenon", "Yttrium", f"Zinc {cold}"]
    assert agreement["rows"][1] == [
        "Arbiter",
        "2",
        "50.0%",
        "0.00",
        "1.00",
        "1.00",
        "25.0%",
        "42.9%",
        "50.0% / 100.0%",
    ]
    assert by_category["rows"][1][0] == "知识问答"


def test_the_judge_board_page_before_any_verdict(settings):
    human_board(settings)
    html = get("/leaderboard/?board=judge", language="en")
    assert "No LLM judge has judged a battle yet." in html
    assert tables_of(html) == []


def board_links(html: str) -> list[str]:
    """The links of the switch between boards, as written."""
    (switch,) = re.findall(r'<nav class="segmented".*?</nav>', html, flags=re.DOTALL)
    return re.findall(r"<a [^>]*>[^<]*</a>", switch)


def test_the_human_board_offers_the_judge_board_once_there_is_one(settings):
    made = human_board(settings)
    before = get("/leaderboard/", language="en")
    assert board_links(before) == [
        '<a href="?" aria-current="page">As voted</a>',
        '<a href="?board=style">Style controlled</a>',
    ]
    assert "board=judge" not in before

    judge, _ = judge_save(contender=ContenderFactory(name="Arbiter", sampling_weight=0))
    verdicts_done(judge, made["b1"], 1, 1)
    judge_boards_refresh(force=True)

    assert board_links(get("/leaderboard/", language="en")) == [
        '<a href="?" aria-current="page">As voted</a>',
        '<a href="?board=style">Style controlled</a>',
        '<a href="?board=judge">LLM judges</a>',
    ]


def test_an_unknown_board_is_a_bad_request():
    client = Client()
    client.cookies["arena_language"] = "en"
    response = client.get("/leaderboard/", {"board": "nope"})
    assert response.status_code == 400
    assert response.content.decode() == "The board must be raw, style or judge, not “nope”."
    assert JudgeSnapshot.objects.count() == 0


# --- The API ---------------------------------------------------------------------------------------


def api_row(row: JudgeRating) -> dict:
    def rounded(value):
        return None if value is None else round(value, 2)

    return {
        "rank": row.rank,
        "rank_worst": row.rank_worst,
        "name": row.contender.name,
        "rating": round(row.rating, 2),
        "low": round(row.low, 2),
        "high": round(row.high, 2),
        "style_rating": rounded(row.style_rating),
        "style_low": rounded(row.style_low),
        "style_high": rounded(row.style_high),
        "style_rank": row.style_rank,
        "verdicts": row.verdicts,
        "wins": row.wins,
        "losses": row.losses,
        "ties": row.ties,
        "win_rate": None if row.win_rate is None else round(row.win_rate, 4),
        "human_votes": row.human_votes,
        "human_rating": rounded(row.human_rating),
        "human_rank": row.human_rank,
        "cold_start": row.is_cold_start,
        "retired": False,
    }


def test_the_api_judge_board(settings):
    made = judge_board(settings)
    snapshot = made["snapshot"]
    response = APIClient().get("/api/v1/leaderboard/", {"board": "judge"})
    assert response.status_code == 200
    body = response.json()

    assert body["board"] == "judge"
    assert body["snapshot"]["id"] == snapshot.pk
    assert (body["snapshot"]["verdict_count"], body["snapshot"]["category"]) == (8, None)
    assert body["ratings"] == [api_row(row) for row in board_rows(snapshot)]
    assert [row["name"] for row in body["ratings"]] == ["Xenon", "Yttrium", "Zinc"]
    assert [row["cold_start"] for row in body["ratings"]] == [False, False, True]
    assert [(row["wins"], row["losses"], row["ties"], row["verdicts"]) for row in body["ratings"]] == list(
        GAMES.values()
    )
    human = dict(
        ContenderRating.objects.filter(snapshot__category=None).values_list("contender__name", "rank")
    )
    assert [row["human_rank"] for row in body["ratings"]] == [human["Xenon"], human["Yttrium"], None]
    (agreement,) = body["agreement"]
    assert {key: agreement[key] for key in AGREEMENT} == AGREEMENT
    assert agreement == snapshot.agreement[0]
    (category,) = body["categories"]
    assert category["category"] == {"code": "QA", "name": "知识问答"}
    assert category["agreement"] == made["category_snapshot"].agreement

    by_category = APIClient().get("/api/v1/leaderboard/", {"board": "judge", "category": "QA"}).json()
    assert by_category["snapshot"]["id"] == made["category_snapshot"].pk
    assert by_category["categories"] == []
    assert by_category["ratings"] == [api_row(row) for row in board_rows(made["category_snapshot"])]


def test_the_api_judge_board_before_any_verdict(settings):
    human_board(settings)
    response = APIClient().get("/api/v1/leaderboard/", {"board": "judge"})
    assert response.status_code == 200
    assert response.json() == {
        "snapshot": {
            "id": None,
            "created_at": None,
            "category": None,
            "verdict_count": 0,
            "duration_ms": 0,
            "flags": [],
            "parameters": {},
        },
        "board": "judge",
        "ratings": [],
        "agreement": [],
        "categories": [],
    }


def test_the_api_gives_a_judge_board_snapshot_by_id(settings):
    made = judge_board(settings)
    client = APIClient()
    client.cookies["arena_language"] = "en"
    category_snapshot = made["category_snapshot"]
    response = client.get("/api/v1/leaderboard/", {"board": "judge", "snapshot": str(category_snapshot.pk)})
    assert response.status_code == 200
    body = response.json()
    assert body["snapshot"]["id"] == category_snapshot.pk
    assert body["snapshot"]["category"]["code"] == category_snapshot.category.code
    assert body["agreement"] == category_snapshot.agreement
    absent = client.get("/api/v1/leaderboard/", {"board": "judge", "snapshot": "999999"})
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "not_found"
    other = client.get(
        "/api/v1/leaderboard/",
        {"board": "judge", "snapshot": str(made["snapshot"].pk), "category": category_snapshot.category.code},
    )
    assert other.status_code == 400 and other.json()["error"]["code"] == "invalid"
    unknown = client.get("/api/v1/leaderboard/", {"board": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid"
    missing = client.get("/api/v1/leaderboard/", {"board": "judge", "category": "NOPE"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert list(JudgeSnapshot.objects.values_list("pk", flat=True).order_by("pk")) == [
        made["snapshot"].pk,
        made["category_snapshot"].pk,
    ]


# --- The command -----------------------------------------------------------------------------------


def test_the_leaderboard_command_prints_the_judge_board_as_json(settings):
    judge_board(settings)
    out = StringIO()
    call_command("leaderboard", "--json", "--board", "judge", stdout=out)
    printed = json.loads(out.getvalue())
    served = APIClient().get("/api/v1/leaderboard/", {"board": "judge"}).json()
    assert printed["ratings"] == served["ratings"]
    assert printed["agreement"] == served["agreement"]
    assert printed["categories"] == served["categories"]
    assert printed["snapshot"]["id"] == served["snapshot"]["id"]
    assert [row["name"] for row in printed["ratings"]] == ["Xenon", "Yttrium", "Zinc"]


def test_the_leaderboard_command_prints_the_judge_board_as_a_table(settings):
    made = judge_board(settings)
    out = StringIO()
    call_command("leaderboard", "--board", "judge", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"Judge board {made['snapshot'].pk} of ") and lines[0].endswith(", 8 verdicts")
    names = [line.split()[1] for line in lines[2:5]]
    assert names == ["Xenon", "Yttrium", "Zinc"]
    assert lines[4].endswith("(judges only)") and "(judges only)" not in "".join(lines[2:4])
    assert lines[5] == (
        "Arbiter: 2 battles compared, agrees on 50.0%, kappa 0.00, Spearman 1.00, Kendall 1.00, flips "
        "25.0% when swapped, longer answer wins 50.0% (voters 100.0%)"
    )


def test_the_leaderboard_command_before_any_verdict():
    out = StringIO()
    call_command("leaderboard", "--board", "judge", stdout=out)
    assert out.getvalue() == "No judge board yet: it is computed once a judge has judged battles.\n"
    out = StringIO()
    call_command("leaderboard", "--json", "--board", "judge", stdout=out)
    body = json.loads(out.getvalue())
    assert (body["snapshot"]["id"], body["ratings"], body["agreement"]) == (None, [], [])


# --- The demo judge --------------------------------------------------------------------------------


def test_demo_load_sets_up_the_demo_judge(monkeypatch):
    monkeypatch.delenv("ARENA_DEMO_API_KEY", raising=False)
    out = StringIO()
    call_command("demo_load", stdout=out)
    arbiter = Contender.objects.get(name="Demo Arbiter")
    assert (arbiter.kind, arbiter.model_id, arbiter.sampling_weight, arbiter.stream, arbiter.origin) == (
        "endpoint",
        "arbiter",
        0.0,
        False,
        "demo",
    )
    assert arbiter.base_url == django_settings.ARENA_DEMO_ENDPOINT_URL
    judge = Judge.objects.get()
    assert judge.contender == arbiter
    assert (judge.is_active, judge.judges_voted, judge.ready_share, judge.daily_call_budget) == (
        True,
        True,
        1.0,
        20_000,
    )
    assert "demo judge Demo Arbiter: created" in out.getvalue()

    # Loading again changes nothing of the judge's settings.
    Judge.objects.update(ready_share=0.25)
    again = StringIO()
    call_command("demo_load", stdout=again)
    assert "demo judge Demo Arbiter: updated" in again.getvalue()
    assert list(Judge.objects.values_list("contender__name", "ready_share")) == [("Demo Arbiter", 0.25)]


def test_before_any_vote_the_voters_board_points_to_the_judges():
    empty = get("/leaderboard/", language="en")
    assert "No votes yet. Cast the first one!" in empty and "?board=judge" not in empty
    JudgeSnapshot.objects.create(verdict_count=2)
    html = get("/leaderboard/", language="en")
    assert "Until the voters have had their say, the LLM judges' board gives a first estimate." in html
    assert '<a href="?board=judge">LLM judges</a>' in html
