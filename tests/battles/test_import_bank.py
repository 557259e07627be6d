"""`manage.py import_bank` and the bank import service, on PostgreSQL, with the seed projects' real files."""

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from pytest_django import DjangoAssertNumQueries

from battles.importers.records import ImportRejected
from battles.models import Answer, Category, Contender, Origin, Question, question_text_sha256
from battles.rendering import render_markdown
from battles.services.bank import bank_import_paths
from tests.factories import AnswerFactory, ContenderFactory, QuestionFactory

pytestmark = pytest.mark.django_db

SEED_EXAMPLES = Path(os.environ.get("ARENA_SEED_EXAMPLES", "/work/shared/data/ymcui-examples"))
ORIGINAL = SEED_EXAMPLES / "original"
QUESTIONS_JSONL = SEED_EXAMPLES / "questions.jsonl"
ANSWERS_JSONL = SEED_EXAMPLES / "answers.jsonl"
ALPACA_2_7B_MD = ORIGINAL / "Chinese-LLaMA-Alpaca-2__examples__alpaca-2-7b.md"
LICENSE_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__LICENSE.md"
CODE_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__examples__f16-p7b-p13b-33b__CODE.md"
QA_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__examples__f16-p7b-p13b-33b__QA.md"

ALL_CONTENDERS = {
    # From the markdown: the first project's short labels, and the Alpaca-2 file's title.
    "Plus-7B",
    "Plus-13B",
    "33B",
    "Chinese-Alpaca-2-7B",
    # From answers.jsonl (Chinese-Alpaca-2-7B again, and eight more).
    "Chinese-Alpaca-7B",
    "Chinese-Alpaca-13B",
    "Chinese-Alpaca-Plus-7B",
    "Chinese-Alpaca-Plus-13B",
    "Chinese-Alpaca-33B",
    "Chinese-Alpaca-2-13B",
    "Chinese-Mixtral-Instruct",
    "Llama-3-Chinese-8B-Instruct",
}
FIRST_IMPORT_LINES = [
    f"{ALPACA_2_7B_MD}: questions 30 new, 0 existing; answers 30 new, 0 existing; categories 10 new; "
    "contenders 1 new",
    f"{LICENSE_MD}: questions 0 new, 0 existing; answers 0 new, 0 existing; categories 0 new; "
    "contenders 0 new",
    "  notice: no question table found",
    f"{CODE_MD}: questions 17 new, 3 existing; answers 60 new, 0 existing; categories 0 new; "
    "contenders 3 new",
    f"{QA_MD}: questions 19 new, 1 existing; answers 60 new, 0 existing; categories 0 new; contenders 0 new",
    f"{QUESTIONS_JSONL}: questions 185 new, 66 existing; answers 0 new, 0 existing; categories 1 new; "
    "contenders 0 new",
    "  notice: stored questions that had no id took the one this file gives them: 66",
    f"{ANSWERS_JSONL}: questions 0 new, 0 existing; answers 1412 new, 28 existing; categories 0 new; "
    "contenders 8 new",
    "total (6 files): questions 251 new, 70 existing; answers 1562 new, 28 existing; categories 11 new; "
    "contenders 12 new",
]


def import_bank(*paths: Path, dry_run: bool = False) -> list[str]:
    output = io.StringIO()
    call_command("import_bank", *map(str, paths), *(["--dry-run"] if dry_run else []), stdout=output)
    return output.getvalue().splitlines()


def database_state() -> dict[str, object]:
    """Every row the import could touch, so a test can assert that a rejected import changed nothing."""
    return {
        "categories": list(Category.objects.values_list("code", "name").order_by("code")),
        "questions": list(
            Question.objects.values_list("id", "external_id", "text", "category__code").order_by("id")
        ),
        "contenders": list(Contender.objects.values_list("name", "kind").order_by("name")),
        "answers": list(
            Answer.objects.values_list("id", "question_id", "contender__name", "sample_index", "text")
        ),
    }


def stored_question(**fields: Any) -> Question:
    question = QuestionFactory(**fields)
    assert isinstance(question, Question)
    return question


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_real_seed_bank_imports_with_exact_counts() -> None:
    assert import_bank(ORIGINAL, QUESTIONS_JSONL, ANSWERS_JSONL) == FIRST_IMPORT_LINES
    assert Question.objects.count() == 251
    assert Question.objects.filter(external_id__isnull=True).count() == 0
    assert dict(Category.objects.values_list("code", "name")) == {
        "QA": "知识问答",
        "OQA": "开放式问答",
        "REASONING": "数值计算、推理",
        "LITERATURE": "诗词、文学、哲学",
        "ENTERTAINMENT": "音乐、体育、娱乐",
        "GENERATION": "写信、写文章",
        "TRANSLATION": "文本翻译",
        "DIALOGUE": "多轮对话",  # the name the first file to use the code gave it
        "CODE": "代码编程",
        "ETHICS": "伦理、拒答",
        "UNCATEGORIZED": "未分类（GPT-4生成题目）",
    }
    assert set(Contender.objects.values_list("name", flat=True)) == ALL_CONTENDERS
    assert set(Contender.objects.values_list("kind", flat=True)) == {Contender.Kind.OFFLINE}
    assert Answer.objects.count() == 1562
    assert set(Answer.objects.values_list("status", flat=True)) == {Answer.Status.DONE}
    assert not Answer.objects.filter(finished_at__isnull=True).exists()
    # answers.jsonl holds two runs (q4 and q8 quantisations) of the first project's 7B and 13B models,
    # and its own copies of two Alpaca-2-7B code answers whose fences differ from the markdown's:
    # second samples. Its dialogue transcripts (built from "turns") equal the markdown's.
    assert Answer.objects.filter(sample_index=1).count() == 287 + 2
    assert not Answer.objects.filter(sample_index__gt=1).exists()


def test_second_import_creates_nothing() -> None:
    import_bank(ORIGINAL, QUESTIONS_JSONL, ANSWERS_JSONL)
    before = database_state()
    lines = import_bank(ORIGINAL, QUESTIONS_JSONL, ANSWERS_JSONL)
    assert lines[-1] == (
        "total (6 files): questions 0 new, 321 existing; answers 0 new, 1590 existing; categories 0 new; "
        "contenders 0 new"
    )
    assert database_state() == before


def test_markdown_and_jsonl_share_questions() -> None:
    import_bank(ORIGINAL)
    assert (Question.objects.count(), Category.objects.count(), Contender.objects.count()) == (66, 10, 4)
    assert Answer.objects.count() == 150
    sky = Question.objects.get(text="为什么天空是蓝色的？")
    assert (sky.external_id, sky.source, sky.category.code) == (None, f"{QA_MD.name}:16", "QA")

    assert import_bank(QUESTIONS_JSONL)[0] == (
        f"{QUESTIONS_JSONL}: questions 185 new, 66 existing; answers 0 new, 0 existing; categories 1 new; "
        "contenders 0 new"
    )
    sky.refresh_from_db()
    assert (sky.external_id, sky.source, sky.text) == (
        "CLA-QA-02",
        f"{QA_MD.name}:16",
        "为什么天空是蓝色的？",
    )
    import_bank(ANSWERS_JSONL)
    assert Question.objects.count() == 251
    assert sorted(sky.answers.values_list("contender__name", "sample_index")) == [
        ("33B", 0),
        ("Chinese-Alpaca-13B", 0),
        ("Chinese-Alpaca-13B", 1),
        ("Chinese-Alpaca-33B", 0),
        ("Chinese-Alpaca-7B", 0),
        ("Chinese-Alpaca-7B", 1),
        ("Chinese-Alpaca-Plus-13B", 0),
        ("Chinese-Alpaca-Plus-7B", 0),
        ("Plus-13B", 0),
        ("Plus-7B", 0),
    ]


def test_dialogue_transcripts_from_both_sources() -> None:
    import_bank(ALPACA_2_7B_MD, QUESTIONS_JSONL, ANSWERS_JSONL)
    beijing = Question.objects.get(external_id="CLA-DIALOGUE-03")
    assert beijing.text == "你是一个资深导游，你能介绍一下中国的首都吗？"
    # answers.jsonl's "turns" give the same transcript as the markdown table: one answer, not two.
    [markdown] = beijing.answers.filter(contender__name="Chinese-Alpaca-2-7B")
    assert (markdown.sample_index, markdown.source) == (0, f"{ALPACA_2_7B_MD.name}:18")
    assert markdown.text.startswith("> 你是一个资深导游，你能介绍一下中国的首都吗？\n\n当然可以！")
    assert markdown.html.startswith(
        "<blockquote>\n<p>你是一个资深导游，你能介绍一下中国的首都吗？</p>\n</blockquote>\n<p>当然可以！"
    )


def test_code_answers_keep_their_fences_and_render_as_code() -> None:
    import_bank(CODE_MD)
    answer = Answer.objects.get(source=f"{CODE_MD.name}:15")
    assert answer.contender.name == "Plus-7B"
    assert answer.question.text == "请用python实现快速排序的代码"
    assert answer.text.startswith("```\ndef quick_sort(arr):")
    assert answer.html == render_markdown(answer.text)
    assert answer.html.startswith("<pre><code>def quick_sort(arr):")


def test_a_directory_imports_questions_before_answers() -> None:
    """The data directory sorts answers.jsonl first; its questions are imported first anyway."""
    lines = import_bank(SEED_EXAMPLES)
    assert lines == [
        f"{SEED_EXAMPLES / 'README.md'}: questions 0 new, 0 existing; answers 0 new, 0 existing; "
        "categories 0 new; contenders 0 new",
        "  notice: no question table found",
        f"{QUESTIONS_JSONL}: questions 251 new, 0 existing; answers 0 new, 0 existing; categories 11 new; "
        "contenders 0 new",
        f"{ANSWERS_JSONL}: questions 0 new, 0 existing; answers 1440 new, 0 existing; categories 0 new; "
        "contenders 9 new",
        "total (3 files): questions 251 new, 0 existing; answers 1440 new, 0 existing; categories 11 new; "
        "contenders 9 new",
    ]


def test_answers_import_in_bulk(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    import_bank(QUESTIONS_JSONL)
    # Two savepoints (the command's transaction, the file's), the endpoint-name check, the question
    # ids, then four statements per new contender (select, savepoint, insert, release), the stored
    # answers, the contenders' aliases (to mark answers that name a model), three INSERTs of 500 rows,
    # and two releases: 9 * 4 + 11. None per answer.
    with django_assert_num_queries(47):
        import_bank(ANSWERS_JSONL)
    assert Answer.objects.count() == 1440


def test_dry_run_writes_nothing() -> None:
    lines = import_bank(ORIGINAL, QUESTIONS_JSONL, ANSWERS_JSONL, dry_run=True)
    assert lines == [
        *FIRST_IMPORT_LINES,
        "dry run: the counts above are what the import would write; nothing was written",
    ]
    assert database_state() == {"categories": [], "questions": [], "contenders": [], "answers": []}


def test_bad_file_is_rejected_with_file_and_line_and_nothing_is_written(tmp_path: Path) -> None:
    QuestionFactory(text="Already here?")
    before = database_state()
    bad = write(tmp_path, "bad.jsonl", '{"text": "fine"}\n{"text": "broken"\n')
    with pytest.raises(CommandError) as caught:
        import_bank(QA_MD, bad)
    assert str(caught.value) == (
        f"{bad}:2: invalid JSON: Expecting ',' delimiter at column 18\nNothing was imported."
    )
    assert database_state() == before


def test_rejection_by_the_service_rolls_back_the_files_before_it(tmp_path: Path) -> None:
    answers = write(
        tmp_path,
        "answers.jsonl",
        '{"question_id": "CLA-QA-01", "model": "m", "answer": "a"}\n' * 2
        + ('{"question_id": "nowhere", "model": "m", "answer": "a"}\n'),
    )
    with pytest.raises(CommandError) as caught:
        import_bank(answers, QUESTIONS_JSONL)
    assert str(caught.value) == (
        f'{answers}:3: the answer is to question id "nowhere", which no file of this import gives and no '
        "stored question has; import the questions first\nNothing was imported."
    )
    assert database_state() == {"categories": [], "questions": [], "contenders": [], "answers": []}


def test_model_named_like_an_endpoint_contender_is_rejected() -> None:
    ContenderFactory(name="33B")
    before = database_state()
    with pytest.raises(CommandError) as caught:
        import_bank(QA_MD)
    assert str(caught.value) == (
        f'{QA_MD}:15: "33B" is the name of an endpoint contender, which generates its own answers; '
        "rename the model in the file (or the contender) to import these answers as an offline contender\n"
        "Nothing was imported."
    )
    assert database_state() == before


def test_answers_are_deduplicated_by_text_and_sampled_otherwise(tmp_path: Path) -> None:
    first = write(tmp_path, "first.csv", "text,model,answer\nWhy?,m1,**Because.**\n")
    again = write(tmp_path, "again.csv", "question,model,answer\nWhy?  ,m1,**Because.**\nWhy?,m1,Another.\n")
    import_bank(first)
    assert import_bank(again)[0] == (
        f"{again}: questions 0 new, 1 existing; answers 1 new, 1 existing; categories 0 new; contenders 0 new"
    )
    assert list(
        Answer.objects.values_list("sample_index", "text", "html", "source", "status").order_by("id")
    ) == [
        (0, "**Because.**", "<p><strong>Because.</strong></p>\n", "first.csv:2", "done"),
        (1, "Another.", "<p>Another.</p>\n", "again.csv:3", "done"),
    ]


def test_existing_offline_answers_and_samples_are_respected(tmp_path: Path) -> None:
    question = stored_question(text="Why?")
    contender = ContenderFactory(name="m1", kind=Contender.Kind.OFFLINE, base_url="", model_id="")
    AnswerFactory(question=question, contender=contender, sample_index=3, text="old")
    path = write(tmp_path, "bank.csv", "text,model,answer\nWhy?,m1,old\nWhy?,m1,new\n")
    import_bank(path)
    assert sorted(question.answers.values_list("sample_index", "text")) == [(3, "old"), (4, "new")]


def test_question_ids_fill_gaps_and_never_overwrite(tmp_path: Path) -> None:
    kept = stored_question(text="Kept id?", external_id="old-id")
    filled = stored_question(text="No id yet?", external_id=None)
    path = write(
        tmp_path,
        "bank.jsonl",
        '{"id": "new-id", "text": "Kept   id?", "category": "OTHER"}\n'
        '{"id": "filled", "text": "No id yet?"}\n',
    )
    lines = import_bank(path)
    assert lines[1:5] == [
        f"  notice: line 1: this question is already stored in category {kept.category.code}; "
        "kept it there, not in OTHER",
        '  notice: line 1: this question is already stored with the id "old-id"; kept that id, and answers '
        'in this import may name it "new-id" too',
        f"  notice: line 2: this question is already stored in category {filled.category.code}; "
        "kept it there, not in GENERAL",
        "  notice: stored questions that had no id took the one this file gives them: 1",
    ]
    kept.refresh_from_db()
    filled.refresh_from_db()
    assert (kept.external_id, kept.text) == ("old-id", "Kept id?")
    assert filled.external_id == "filled"
    assert not Category.objects.filter(code__in=["OTHER", "GENERAL"]).exists()


def test_an_id_that_belongs_to_another_question_is_rejected(tmp_path: Path) -> None:
    owner = stored_question(text="Owner?", external_id="q1")
    before = database_state()
    path = write(
        tmp_path, "bank.jsonl", '{"id": "q0", "text": "Fine?"}\n{"id": "q1", "text": "Someone else?"}\n'
    )
    with pytest.raises(CommandError) as caught:
        import_bank(path)
    assert str(caught.value) == (
        f'{path}:2: the id "q1" already belongs to another question in the database (#{owner.pk}: "Owner?")\n'
        "Nothing was imported."
    )
    assert database_state() == before


def test_the_same_id_for_two_questions_in_one_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.jsonl", '{"id": "q1", "text": "One?"}\n\n{"id": "q1", "text": "Two?"}\n')
    with pytest.raises(
        CommandError, match=r'bank\.jsonl:3: the id "q1" is already used at line 1 for a different'
    ):
        import_bank(path)
    assert Question.objects.count() == 0


def test_repeated_and_inactive_questions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bank.jsonl",
        '{"text": "Twice?", "is_active": false}\n{"text": " Twice? "}\n{"question": "Twice?", "model": "m", '
        '"answer": "Yes."}\n',
    )
    lines = import_bank(path)
    assert lines[:2] == [
        f"{path}: questions 1 new, 0 existing; answers 1 new, 0 existing; categories 1 new; contenders 1 new",
        "  notice: line 2: the same question as line 1; imported once",
    ]
    question = Question.objects.get()
    assert (question.text, question.is_active, question.text_sha256) == (
        "Twice?",
        False,
        question_text_sha256("Twice?"),
    )
    assert (question.category.code, question.category.name, question.language) == ("GENERAL", "GENERAL", "en")


def test_too_long_a_category_code_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.csv", f"text,category\nfine?,QA\nWhy?,{'C' * 65}\n")
    with pytest.raises(
        CommandError,
        match=r"bank\.csv:3: the category code 'C{40}'\.\.\. is 65 characters long; the most is 64",
    ):
        import_bank(path)
    assert Question.objects.count() == 0


def test_a_directory_without_bank_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing", encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        bank_import_paths(paths=[tmp_path])
    assert (
        str(caught.value) == f"{tmp_path}: the directory holds no .jsonl, .ndjson, .csv, .md, .markdown file"
    )


def test_a_file_named_twice_is_imported_once() -> None:
    reports = bank_import_paths(paths=[QA_MD, ORIGINAL / ".." / "original" / QA_MD.name])
    assert [(report.path, report.questions_created, report.answers_created) for report in reports] == [
        (QA_MD, 20, 60)
    ]


def test_rename_puts_one_models_answers_from_several_sources_on_one_contender() -> None:
    renames = ["Plus-7B=Chinese-Alpaca-Plus-7B", "Plus-13B=Chinese-Alpaca-Plus-13B", "33B=Chinese-Alpaca-33B"]
    output = io.StringIO()
    call_command(
        "import_bank",
        str(ORIGINAL),
        str(QUESTIONS_JSONL),
        str(ANSWERS_JSONL),
        *[f"--rename={pair}" for pair in renames],
        stdout=output,
    )
    names = set(Contender.objects.values_list("name", flat=True))
    assert names == ALL_CONTENDERS - {"Plus-7B", "Plus-13B", "33B"}
    # The first project's table answers are the ones answers.jsonl carries for those models.
    plus_7b = Contender.objects.get(name="Chinese-Alpaca-Plus-7B")
    assert plus_7b.answers.filter(source__startswith=QA_MD.name).count() == 20
    assert output.getvalue().splitlines()[-1].startswith("total (6 files): questions 251 new, 70 existing;")


@pytest.mark.parametrize("pair", ["Plus-7B", "=Chinese", "Plus-7B="])
def test_malformed_rename_is_refused(pair: str) -> None:
    with pytest.raises(CommandError, match="LABEL=NAME"):
        call_command("import_bank", str(QA_MD), f"--rename={pair}", stdout=io.StringIO())
    assert not Question.objects.exists()


README_RENAMES = [
    "--rename",
    "Plus-7B=Chinese-Alpaca-Plus-7B",
    "--rename",
    "Plus-13B=Chinese-Alpaca-Plus-13B",
    "--rename",
    "33B=Chinese-Alpaca-33B",
]


def readme_import() -> list[str]:
    """The README's one command for the seed projects' bank, on the real files."""
    output = io.StringIO()
    call_command(
        "import_bank",
        f"{ORIGINAL}/",
        str(QUESTIONS_JSONL),
        str(ANSWERS_JSONL),
        *README_RENAMES,
        stdout=output,
    )
    return output.getvalue().splitlines()


def demo_load() -> list[str]:
    output = io.StringIO()
    call_command("demo_load", stdout=output)
    return output.getvalue().splitlines()


def seed_question_text(external_id: str) -> str:
    """A question's text as the seed projects' questions.jsonl has it (read, not copied into the project)."""
    with QUESTIONS_JSONL.open(encoding="utf-8") as questions:
        return next(row["text"] for row in map(json.loads, questions) if row["id"] == external_id)


def origins(model: type[Question] | type[Contender]) -> dict[str, int]:
    return dict(model.objects.values_list("origin").annotate(count=Count("id")).order_by("origin"))


README_IMPORT_AFTER_DEMO_LINES = [
    f"{ALPACA_2_7B_MD}: questions 30 new, 0 existing; answers 30 new, 0 existing; categories 6 new; "
    "contenders 1 new",
    f"{LICENSE_MD}: questions 0 new, 0 existing; answers 0 new, 0 existing; categories 0 new; "
    "contenders 0 new",
    "  notice: no question table found",
    f"{CODE_MD}: questions 17 new, 3 existing; answers 60 new, 0 existing; categories 0 new; "
    "contenders 3 new",
    f"{QA_MD}: questions 19 new, 1 existing; answers 60 new, 0 existing; categories 0 new; contenders 0 new",
    f"{QUESTIONS_JSONL}: questions 185 new, 66 existing; answers 0 new, 0 existing; categories 1 new; "
    "contenders 0 new",
    "  notice: stored questions that had no id took the one this file gives them: 66",
    f"{ANSWERS_JSONL}: questions 0 new, 0 existing; answers 1322 new, 118 existing; categories 0 new; "
    "contenders 5 new",
    "total (6 files): questions 251 new, 70 existing; answers 1472 new, 118 existing; categories 7 new; "
    "contenders 9 new",
]
README_IMPORT_AGAIN_TOTAL = (
    "total (6 files): questions 0 new, 321 existing; answers 0 new, 1590 existing; categories 0 new; "
    "contenders 0 new"
)
RENAMED_CONTENDERS = ALL_CONTENDERS - {"Plus-7B", "Plus-13B", "33B"}
DEMO_CONTENDERS = {"Demo Sage", "Demo Brief", "Demo Jumble", "Demo Parrot", "Demo Arbiter"}


def test_the_readme_import_succeeds_on_an_arena_with_the_demo_loaded() -> None:
    assert demo_load() == [
        "demo bank: 32 questions created, 0 already there",
        *[
            f"demo contender {name}: created"
            for name in ["Demo Sage", "Demo Brief", "Demo Jumble", "Demo Parrot"]
        ],
        "demo judge Demo Arbiter: created",
    ]
    assert readme_import() == README_IMPORT_AFTER_DEMO_LINES
    assert origins(Question) == {"demo": 32, "real": 251}
    assert not Question.objects.filter(origin="real", external_id__isnull=True).exists()
    assert set(Contender.objects.filter(origin="demo").values_list("name", flat=True)) == DEMO_CONTENDERS
    assert set(Contender.objects.filter(origin="real").values_list("name", flat=True)) == RENAMED_CONTENDERS
    assert Answer.objects.count() == 1472
    # The demo's own question about the sky is not the seed's: each is its own question.
    assert Question.objects.get(external_id="CLA-QA-02").text == seed_question_text("CLA-QA-02")
    assert Question.objects.get(external_id="demo-zh-qa-04").origin == "demo"

    before = database_state()
    assert readme_import()[-1] == README_IMPORT_AGAIN_TOTAL
    assert demo_load()[0] == "demo bank: 0 questions created, 32 already there"
    assert database_state() == before


def test_a_demo_question_with_a_bank_questions_text_becomes_the_banks_question(tmp_path: Path) -> None:
    """An arena that loaded a demo whose question had the seed's text takes the README import whole."""
    sky = seed_question_text("CLA-QA-02")
    demo_bank = tmp_path / "bank.jsonl"
    demo_bank.write_text(
        json.dumps({"id": "demo-zh-qa-01", "category": "QA", "category_name": "知识问答", "text": sky})
        + "\n",
        encoding="utf-8",
    )
    bank_import_paths(paths=[demo_bank], origin=Origin.DEMO)
    demo_question = Question.objects.get()
    demo_contender = ContenderFactory(name="Demo Sage", origin=Origin.DEMO)
    AnswerFactory(question=demo_question, contender=demo_contender, text="A demo answer.")

    lines = readme_import()
    assert lines[4:6] == [
        f"{QA_MD}: questions 18 new, 2 existing; answers 60 new, 0 existing; categories 0 new; "
        "contenders 0 new",
        f'  notice: line 16: the demo question #{demo_question.pk} ("demo-zh-qa-01") has the same text; '
        "it is now this file's question, with its id, category and source",
    ]
    assert lines[-1] == (
        "total (6 files): questions 250 new, 71 existing; answers 1472 new, 118 existing; categories 10 new; "
        "contenders 9 new"
    )
    taken_over = Question.objects.get(pk=demo_question.pk)
    assert (taken_over.external_id, taken_over.origin, taken_over.category.code, taken_over.source) == (
        "CLA-QA-02",
        "real",
        "QA",
        f"{QA_MD.name}:16",
    )
    assert origins(Question) == {"real": 251}
    # Its demo answer stays. answers.jsonl names it CLA-QA-02 (lines 4 to 6 equal the table's answers
    # of the renamed models, so they are found there and skipped, not refused).
    assert sorted(taken_over.answers.values_list("contender__name", "sample_index", "source")) == [
        ("Chinese-Alpaca-13B", 0, "answers.jsonl:602"),
        ("Chinese-Alpaca-13B", 1, "answers.jsonl:1009"),
        ("Chinese-Alpaca-33B", 0, f"{QA_MD.name}:16"),
        ("Chinese-Alpaca-7B", 0, "answers.jsonl:802"),
        ("Chinese-Alpaca-7B", 1, "answers.jsonl:1008"),
        ("Chinese-Alpaca-Plus-13B", 0, f"{QA_MD.name}:16"),
        ("Chinese-Alpaca-Plus-7B", 0, f"{QA_MD.name}:16"),
        ("Demo Sage", 0, ""),
    ]

    before = database_state()
    assert readme_import()[-1] == README_IMPORT_AGAIN_TOTAL
    assert database_state() == before


@pytest.mark.parametrize("origin", [Origin.DEMO, Origin.SEEDED])
def test_real_data_takes_over_a_demo_or_seeded_question(tmp_path: Path, origin: Origin) -> None:
    stored = stored_question(
        text="Why is grass green?",
        external_id="demo-7",
        origin=origin,
        is_active=False,
        source="bank.jsonl:7",
    )
    AnswerFactory(question=stored, text="Kept.")
    questions = write(
        tmp_path,
        "questions.jsonl",
        '{"id": "bio-1", "text": "Why is  grass green? ", "category": "BIO", "category_name": "Biology", '
        '"language": "en-GB"}\n',
    )
    answers = write(
        tmp_path, "answers.jsonl", '{"question_id": "bio-1", "model": "m", "answer": "Chlorophyll."}\n'
    )
    lines = import_bank(questions, answers)
    assert lines[:2] == [
        f"{questions}: questions 0 new, 1 existing; answers 0 new, 0 existing; categories 1 new; "
        "contenders 0 new",
        f'  notice: line 1: the {origin} question #{stored.pk} ("demo-7") has the same text; it is now this '
        "file's question, with its id, category and source",
    ]
    stored.refresh_from_db()
    assert (stored.external_id, stored.text, stored.category.code, stored.category.name) == (
        "bio-1",
        "Why is  grass green?",
        "BIO",
        "Biology",
    )
    assert (stored.language, stored.source, stored.origin, stored.is_active) == (
        "en-GB",
        "questions.jsonl:1",
        "real",
        False,  # whether it is served stays the admin's decision
    )
    assert sorted(stored.answers.values_list("text", flat=True)) == ["Chlorophyll.", "Kept."]


def test_the_demo_never_takes_over_a_real_question(tmp_path: Path) -> None:
    real = stored_question(text="Why is grass green?", external_id="bio-1")
    demo = write(
        tmp_path, "bank.jsonl", '{"id": "demo-7", "text": "Why is grass green?", "category": "DEMO"}\n'
    )
    before = database_state()
    [report] = bank_import_paths(paths=[demo], origin=Origin.DEMO)
    assert (report.questions_created, report.questions_existing) == (0, 1)
    assert report.notices == [
        f"line 1: this question is already stored in category {real.category.code}; kept it there, "
        "not in DEMO",
        'line 1: this question is already stored with the id "bio-1"; kept that id, and answers in this '
        'import may name it "demo-7" too',
    ]
    assert database_state() == before
    assert Question.objects.get().origin == "real"


def test_answers_may_name_a_question_by_any_id_the_run_gave_it(tmp_path: Path) -> None:
    kept = stored_question(text="Kept id?", external_id="old-id")
    questions = write(tmp_path, "questions.jsonl", '{"id": "new-id", "text": "Kept id?"}\n')
    answers = write(
        tmp_path,
        "answers.jsonl",
        '{"question_id": "new-id", "model": "m", "answer": "By the new id."}\n'
        '{"question_id": "old-id", "model": "m", "answer": "By the stored id."}\n',
    )
    # The answers file comes first on the command line; questions are imported first anyway.
    lines = import_bank(answers, questions)
    assert lines[-1] == (
        "total (2 files): questions 0 new, 1 existing; answers 2 new, 0 existing; categories 0 new; "
        "contenders 1 new"
    )
    kept.refresh_from_db()
    assert kept.external_id == "old-id"
    assert sorted(kept.answers.values_list("text", flat=True)) == ["By the new id.", "By the stored id."]

    # Outside the run that gave it, the file's id names nothing.
    later = write(tmp_path, "later.jsonl", '{"question_id": "new-id", "model": "m", "answer": "Later."}\n')
    before = database_state()
    with pytest.raises(CommandError) as caught:
        import_bank(later)
    assert str(caught.value) == (
        f'{later}:1: the answer is to question id "new-id", which no file of this import gives and no stored '
        "question has; import the questions first\nNothing was imported."
    )
    assert database_state() == before


def test_two_files_of_one_run_giving_one_id_to_different_questions_are_rejected(tmp_path: Path) -> None:
    stored_question(text="First?", external_id="stored-id")
    first = write(tmp_path, "a.jsonl", '{"id": "x", "text": "First?"}\n')
    second = write(tmp_path, "b.jsonl", '{"text": "Fine?"}\n{"id": "x", "text": "Second?"}\n')
    before = database_state()
    with pytest.raises(CommandError) as caught:
        import_bank(first, second)
    assert str(caught.value) == (
        f'{second}:2: the id "x" is given to a different question at {first}:1\nNothing was imported.'
    )
    assert database_state() == before


def test_a_category_gets_its_english_name_from_a_file_and_shows_it_in_english(tmp_path: Path) -> None:
    from django.utils import translation

    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"text": "一个问题？", "category": "QA", "category_name": "知识问答"}) + "\n")
    second = tmp_path / "second.csv"
    second.write_text("text,category,category_name,category_name_en\n另一个问题？,QA,知识问答,Knowledge\n")
    import_bank(first)
    assert Category.objects.get(code="QA").name_en == ""
    import_bank(second)  # fills in the English name the first file did not give
    category = Category.objects.get(code="QA")
    assert (category.name, category.name_en) == ("知识问答", "Knowledge")
    with translation.override("en"):
        assert category.display_name == "Knowledge"
    with translation.override("zh-hans"):
        assert category.display_name == "知识问答"
    category.name_en = ""
    with translation.override("en"):
        assert category.display_name == "知识问答"  # no English name: as written


def test_a_question_gets_its_english_translation_from_a_file_and_shows_it_in_english(tmp_path: Path) -> None:
    from django.utils import translation

    first = tmp_path / "first.csv"
    first.write_text("text,category,text_en\n天空为什么是蓝的？,QA,\nWhy is grass green?,QA,\n")
    second = tmp_path / "second.jsonl"
    second.write_text(
        json.dumps({"text": "天空为什么是蓝的？", "category": "QA", "text_en": "Why is the sky blue?"}) + "\n"
    )
    import_bank(first)
    sky = Question.objects.get(language="zh")
    assert sky.text_en == ""
    import_bank(second)  # fills in the translation the first file did not give
    sky.refresh_from_db()
    assert sky.text_en == "Why is the sky blue?"
    with translation.override("en"):
        assert sky.translation_shown == "Why is the sky blue?"
        assert Question.objects.get(language="en").translation_shown == ""
    with translation.override("zh-hans"):
        assert sky.translation_shown == ""
    third = tmp_path / "third.jsonl"
    third.write_text(
        json.dumps({"text": "天空为什么是蓝的？", "category": "QA", "text_en": "Another rendering"}) + "\n"
    )
    import_bank(third)  # a translation already there stays
    sky.refresh_from_db()
    assert sky.text_en == "Why is the sky blue?"
