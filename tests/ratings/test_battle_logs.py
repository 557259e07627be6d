"""Chatbot Arena battle logs: streamed import (idempotent, all or nothing) and export in the same format."""

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from battles.importers.battle_log import BattleLogRejected, _battles
from battles.models import Contender, Vote
from ratings.models import PairCount, RatingSnapshot
from tests.factories import ContenderFactory, OfflineContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db

LOG = [
    {
        "question_id": "q1",
        "model_a": "gpt-4",
        "model_b": "claude-v1",
        "winner": "model_a",
        "judge": "arena_user_1",
        "turn": 1,
        "anony": True,
        "language": "English",
        "tstamp": 1682000000.5,
    },
    {
        "question_id": "q2",
        "model_a": "claude-v1",
        "model_b": "vicuna-13b",
        "winner": "tie",
        "judge": "arena_user_2",
        "turn": 1,
        "anony": True,
        "language": "Chinese",
        "tstamp": 1682000100.0,
    },
    {
        "question_id": "q3",
        "model_a": "vicuna-13b",
        "model_b": "gpt-4",
        "winner": "tie (bothbad)",
        "judge": "x",
        "turn": 2,
        "anony": False,
        "language": "English",
        "tstamp": 1682000200.0,
        "conversation_a": [{"role": "user", "content": "hi"}],
        "conversation_b": [{"role": "user", "content": "hi"}],
    },
    {
        "question_id": "q4",
        "model_a": "gpt-4",
        "model_b": "vicuna-13b",
        "winner": "model_b",
        "tstamp": 1682000050,
    },
]


def write_log(tmp_path: Path, battles: list, name: str = "clean_battle.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(battles, indent=1), encoding="utf-8")
    return path


def test_import_creates_offline_contenders_and_timed_votes_and_rebuilds(tmp_path):
    existing = OfflineContenderFactory(name="gpt-4")  # joins the offline contender of that name
    out = io.StringIO()
    call_command("import_battles", str(write_log(tmp_path, LOG)), "--quiet", stdout=out)
    assert (
        out.getvalue()
        .strip()
        .endswith("4 battles read; 4 votes imported, 0 already there; 2 contenders created")
    )
    assert set(Contender.objects.values_list("name", "kind")) == {
        ("gpt-4", "offline"),
        ("claude-v1", "offline"),
        ("vicuna-13b", "offline"),
    }
    votes = {vote.external_id: vote for vote in Vote.objects.select_related("contender_a", "contender_b")}
    assert votes["fastchat:q1"].contender_a == existing and votes["fastchat:q1"].outcome == "a"
    assert votes["fastchat:q2"].outcome == "tie" and votes["fastchat:q2"].language == "Chinese"
    assert votes["fastchat:q3"].outcome == "both_bad"
    assert votes["fastchat:q4"].created_at.timestamp() == 1682000050
    assert sum(PairCount.objects.filter(category_key=0).values_list("count", flat=True)) == 4
    assert RatingSnapshot.objects.filter(category__isnull=True).latest().vote_count == 4


def test_a_model_named_like_an_endpoint_contender_rejects_the_log(tmp_path):
    endpoint = ContenderFactory(name="vicuna-13b")
    path = write_log(tmp_path, LOG)
    with pytest.raises(CommandError) as rejection:
        call_command("import_battles", str(path), "--quiet", stdout=io.StringIO())
    assert str(rejection.value) == (
        f'{path}: battle 2: "vicuna-13b" is the name of an endpoint contender, which generates its own '
        "answers; rename the model in the file (or the contender) to import its battles as an offline "
        "contender. Nothing was imported."
    )
    assert list(Contender.objects.values_list("name", "kind")) == [("vicuna-13b", "endpoint")]
    assert not Vote.objects.exists() and not PairCount.objects.exists()
    assert Contender.objects.get().updated_at == endpoint.updated_at


def test_importing_twice_adds_nothing(tmp_path):
    path = write_log(tmp_path, LOG)
    call_command("import_battles", str(path), "--quiet", stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_battles", str(path), "--quiet", stdout=out)
    assert "0 votes imported, 4 already there; 0 contenders created" in out.getvalue()
    assert Vote.objects.count() == 4


@pytest.mark.parametrize(
    ("battles", "message"),
    [
        (
            [*LOG[:2], {"model_a": "a", "model_b": "b", "winner": "model_c", "tstamp": 1}],
            "battle 3: winner 'model_c'",
        ),
        (
            [*LOG[:1], {"model_a": "a", "model_b": "a", "winner": "tie", "tstamp": 1}],
            "battle 2: model_a and model_b",
        ),
        (
            [{"model_a": "a", "model_b": "", "winner": "tie", "tstamp": 1}],
            "battle 1: model_b must be a model name",
        ),
        ([{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": "yesterday"}], "battle 1: tstamp"),
        ([LOG[0], 7], "battle 2: expected an object"),
        ([{"model_a": "a", "model_b": "b", "winner": ["model_a"], "tstamp": 1}], "battle 1: winner"),
        ([{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1e20}], "battle 1: tstamp"),
        ([{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": -5}], "battle 1: tstamp"),
        (
            [{"model_a": "m1", "model_b": "m1 ", "winner": "tie", "tstamp": 1}],
            "battle 1: model_a and model_b",
        ),
        ([{"model_a": "m" * 201, "model_b": "b", "winner": "tie", "tstamp": 1}], "battle 1: model_a must be"),
        ([{"model_a": "a\u0000", "model_b": "b", "winner": "tie", "tstamp": 1}], "battle 1: model_a must be"),
        (
            [{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1, "language": "en\u0000"}],
            "battle 1: language",
        ),
    ],
)
def test_a_bad_battle_rejects_the_whole_log(tmp_path, battles, message):
    with pytest.raises(CommandError, match=message) as rejection:
        call_command("import_battles", str(write_log(tmp_path, battles)), "--quiet", stdout=io.StringIO())
    assert "Nothing was imported" in str(rejection.value)
    assert not Vote.objects.exists() and not Contender.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model_a": "a"}', "not a JSON list"),
        ('[{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1}', "expected , or ]"),
        ('[{"model_a": "a", "model_b": "b", "winner": "tie", "tst', "battle 1: not valid JSON"),
        ('[{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1}] trailing', "after the list"),
    ],
)
def test_broken_json_is_rejected(text, message):
    with pytest.raises(BattleLogRejected, match=message):
        list(_battles(io.StringIO(text), None))


def test_a_byte_order_mark_and_a_cut_off_literal_are_read_right():
    text = '\ufeff[{"model_a": "a", "model_b": "b", "winner": "tie", "ok": true, "tstamp": 1}]'

    class Dribble(io.StringIO):
        def read(self, size: int = -1) -> str:  # three characters at a time: every token gets cut
            return super().read(3)

    assert [number for number, _ in _battles(Dribble(text), None)] == [1]


def test_a_broken_battle_is_rejected_without_reading_the_rest_of_the_file():
    class Endless(io.TextIOBase):
        """A log whose first battle is broken, followed by an endless supply of good ones."""

        def __init__(self) -> None:
            self.sent = 0
            self.first = '[{"model_a": "a", "model_b" "b"}, '

        def read(self, size: int = -1) -> str:
            self.sent += 1
            if self.sent == 1:
                return self.first
            return '{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1}, ' * 10_000

    reader = Endless()
    with pytest.raises(BattleLogRejected, match="battle 1: not valid JSON"):
        list(_battles(reader, None))
    assert reader.sent <= 2  # at most one more read to tell a cut-off battle from a broken one


def test_our_own_export_imported_again_counts_nothing_twice(tmp_path):
    first, second = ContenderFactory(name="first"), ContenderFactory(name="second")
    for outcome in ("a", "b", "tie"):
        VoteFactory(contender_a=first, contender_b=second, outcome=outcome)
    exported = tmp_path / "ours.json"
    call_command("export_battles", "--output", str(exported), stdout=io.StringIO())
    call_command("import_battles", str(exported), "--quiet", stdout=io.StringIO())
    assert Vote.objects.count() == 3
    # Into another arena (no such votes there) the same log imports whole.
    Vote.objects.all().delete()
    call_command("import_battles", str(exported), "--quiet", stdout=io.StringIO())
    assert Vote.objects.count() == 3


def test_the_reader_streams_in_bounded_memory():
    battle = json.dumps({"model_a": "m-1", "model_b": "m-2", "winner": "tie", "tstamp": 1682000000.0})

    class Generated(io.TextIOBase):
        """200,000 battles (about 14 MB of JSON) produced as they are read, never held whole."""

        def __init__(self) -> None:
            self.remaining = 200_000
            self.pending = "["

        def read(self, size: int = -1) -> str:
            while len(self.pending) < size and self.remaining:
                self.remaining -= 1
                self.pending += battle + ("," if self.remaining else "]")
            text, self.pending = self.pending[:size], self.pending[size:]
            return text

    read_chars = []
    tracemalloc.start()
    count = sum(1 for _ in _battles(Generated(), read_chars.append))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 200_000
    assert sum(read_chars) > 13_000_000
    assert peak < 8 * 1024 * 1024  # a few buffers, not the list


def test_export_writes_the_same_format_back(tmp_path):
    call_command("import_battles", str(write_log(tmp_path, LOG)), "--quiet", stdout=io.StringIO())
    exported = tmp_path / "export.json"
    call_command("export_battles", "--output", str(exported), stdout=io.StringIO())
    battles = json.loads(exported.read_text(encoding="utf-8"))
    assert [battle["question_id"] for battle in battles] == ["q1", "q4", "q2", "q3"]  # time order
    simplified = {(b["model_a"], b["model_b"], b["winner"], b["tstamp"]) for b in battles}
    assert simplified == {(b["model_a"], b["model_b"], b["winner"], b["tstamp"]) for b in LOG}
    assert {b["language"] for b in battles} == {"English", "Chinese", ""}
    assert all(
        set(b) >= {"model_a", "model_b", "winner", "tstamp", "judge", "anony", "language", "turn"}
        for b in battles
    )
    # What was exported imports again as the same battles.
    call_command("import_battles", str(exported), "--quiet", stdout=io.StringIO())
    assert Vote.objects.count() == 4
