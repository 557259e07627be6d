"""The bank parsers on small inline files (one per error case) and on the seed projects' real files.

No database: the parsers are pure. The real files live outside the repository (they may not be
copied into it); ARENA_SEED_EXAMPLES points elsewhere if they are not at the default place.
"""

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from battles.importers import parse_file
from battles.importers.records import (
    AnswerRecord,
    ImportRejected,
    ParsedBank,
    QuestionRecord,
    detect_language,
)
from battles.importers.seed_markdown import clean_cell, split_cells, transcript_of
from battles.models import question_text_sha256

SEED_EXAMPLES = Path(os.environ.get("ARENA_SEED_EXAMPLES", "/work/shared/data/ymcui-examples"))
ORIGINAL = SEED_EXAMPLES / "original"
ALPACA_2_7B_MD = ORIGINAL / "Chinese-LLaMA-Alpaca-2__examples__alpaca-2-7b.md"
CODE_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__examples__f16-p7b-p13b-33b__CODE.md"
QA_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__examples__f16-p7b-p13b-33b__QA.md"
LICENSE_MD = ORIGINAL / "Chinese-LLaMA-Alpaca__LICENSE.md"
# The short labels of the first project's tables, and the names answers.jsonl gives the same models.
FULL_MODEL_NAMES = {
    "Plus-7B": "Chinese-Alpaca-Plus-7B",
    "Plus-13B": "Chinese-Alpaca-Plus-13B",
    "33B": "Chinese-Alpaca-33B",
    "Chinese-Alpaca-2-7B": "Chinese-Alpaca-2-7B",
}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def rejection(path: Path) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        parse_file(path)
    return caught.value


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- records -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("为什么天空是蓝色的？", "zh"),
        ("Why is the sky blue?", "en"),
        ("How do you say 饮水思源 in English?", "zh"),
        ("ひらがなだけ", "en"),  # kana only: no ideograph
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_import_rejected_names_file_and_line() -> None:
    assert str(ImportRejected(Path("bank.jsonl"), 7, "invalid JSON")) == "bank.jsonl:7: invalid JSON"
    assert str(ImportRejected(Path("bank.txt"), None, "unsupported")) == "bank.txt: unsupported"


def test_answer_record_refers_to_exactly_one_question() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AnswerRecord(model="m", text="a", question_external_id="q1", question_text="q", source="f:1", line=1)
    with pytest.raises(ValueError, match="exactly one"):
        AnswerRecord(model="m", text="a", question_external_id=None, question_text=None, source="f:1", line=1)


# --- dispatch and file-level errors --------------------------------------------------------------


def test_unsupported_suffix_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.txt", "anything")
    assert str(rejection(path)) == (
        f"{path}: unsupported file type '.txt'; supported: .jsonl, .ndjson, .csv, .md, .markdown"
    )


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    assert str(rejection(tmp_path / "absent.jsonl")) == f"{tmp_path / 'absent.jsonl'}: no such file"


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    error = rejection(path)
    assert (error.line, error.reason) == (2, "is not valid UTF-8 (byte 0xe9 at offset 30)")


# --- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_question_defaults_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bank.jsonl",
        '\n{"text": "  Why is the sky blue?  "}\n\n'
        '{"id": 17, "text": "光合作用的产物是什么？", "category": "QA", "category_zh": "知识问答", '
        '"is_active": false}\n'
        '{"id": "q3", "text": "Bonjour ?", "category": "CHAT", "category_name": "Chat", "language": "fr"}\n',
    )
    parsed = parse_file(path)
    assert parsed == ParsedBank(
        path=path,
        questions=[
            QuestionRecord("Why is the sky blue?", "GENERAL", "GENERAL", "en", None, "bank.jsonl:2", 2),
            QuestionRecord(
                "光合作用的产物是什么？", "QA", "知识问答", "zh", "17", "bank.jsonl:4", 4, is_active=False
            ),
            QuestionRecord("Bonjour ?", "CHAT", "Chat", "fr", "q3", "bank.jsonl:5", 5),
        ],
        answers=[],
        notices=[],
    )


def test_jsonl_answers_by_id_by_text_and_on_the_question_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bank.jsonl",
        '{"question_id": "q1", "model": "m1", "answer": "**yes**", "setting": "ignored"}\n'
        '{"question": "Why?", "model": "m2", "answer": "Because."}\n'
        '{"text": "Who?", "model": "m3", "answer": "Me."}\n',
    )
    parsed = parse_file(path)
    assert parsed.answers == [
        AnswerRecord("m1", "**yes**", "q1", None, "bank.jsonl:1", 1),
        AnswerRecord("m2", "Because.", None, "Why?", "bank.jsonl:2", 2),
        AnswerRecord("m3", "Me.", None, "Who?", "bank.jsonl:3", 3),
    ]
    assert [question.text for question in parsed.questions] == ["Who?"]


def test_jsonl_line_separator_inside_a_string_does_not_split_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.jsonl", '{"text": "one\u2028two"}\n{"text": "three"}\n')
    assert [(question.text, question.line) for question in parse_file(path).questions] == [
        ("one\u2028two", 1),
        ("three", 2),
    ]


@pytest.mark.parametrize(
    ("second_line", "reason"),
    [
        ('{"text": "unterminated}', "invalid JSON: Unterminated string starting at at column 10"),
        ('["text"]', "expected a JSON object, not a list"),
        (
            '{"topic": "x"}',
            'neither a question (needs "text") nor an answer (needs "question_id" or "question", "model" and '
            '"answer")',
        ),
        ('{"text": "   "}', '"text" is empty'),
        ('{"text": 42}', '"text" must be a string, not a number'),
        ('{"text": "ok", "category": ["QA"]}', '"category" must be a string, not a list'),
        ('{"text": "ok", "is_active": "yes"}', '"is_active" must be true or false, not a string'),
        ('{"question_id": "q1", "answer": "a"}', '"model" is missing'),
        ('{"question_id": "q1", "model": "m", "answer": ""}', '"answer" is empty'),
        (
            '{"model": "m", "answer": "a"}',
            'an answer needs "question_id" or "question" to say which question it answers',
        ),
        (
            '{"question_id": true, "model": "m", "answer": "a"}',
            '"question_id" must be a string, not a boolean',
        ),
    ],
)
def test_jsonl_rejects_bad_lines_with_line_and_reason(tmp_path: Path, second_line: str, reason: str) -> None:
    path = write(tmp_path, "bank.jsonl", '{"text": "A fine question?"}\n' + second_line + "\n")
    error = rejection(path)
    assert (error.path, error.line, error.reason) == (path, 2, reason)


def test_real_questions_jsonl() -> None:
    parsed = parse_file(SEED_EXAMPLES / "questions.jsonl")
    assert (len(parsed.questions), len(parsed.answers), parsed.notices) == (251, 0, [])
    assert parsed.questions[0] == QuestionRecord(
        "我能用lightning数据线给安卓手机充电吗？", "QA", "知识问答", "zh", "CLA-QA-01", "questions.jsonl:1", 1
    )
    assert Counter(question.category_code for question in parsed.questions) == {
        "GENERATION": 26,
        "ETHICS": 25,
        "QA": 24,
        "LITERATURE": 24,
        "UNCATEGORIZED": 24,
        "OQA": 22,
        "REASONING": 22,
        "ENTERTAINMENT": 22,
        "TRANSLATION": 21,
        "DIALOGUE": 21,
        "CODE": 20,
    }
    assert len({question_text_sha256(question.text) for question in parsed.questions}) == 251


def test_real_answers_jsonl() -> None:
    parsed = parse_file(SEED_EXAMPLES / "answers.jsonl")
    assert (len(parsed.questions), len(parsed.answers)) == (0, 1440)
    assert Counter(answer.model for answer in parsed.answers) == {
        "Chinese-Alpaca-7B": 360,
        "Chinese-Alpaca-13B": 356,
        "Chinese-Alpaca-Plus-7B": 203,
        "Chinese-Alpaca-Plus-13B": 200,
        "Chinese-Alpaca-33B": 200,
        "Chinese-Alpaca-2-13B": 50,
        "Chinese-Mixtral-Instruct": 31,
        "Chinese-Alpaca-2-7B": 30,
        "Llama-3-Chinese-8B-Instruct": 10,
    }
    assert all(answer.question_external_id and answer.question_text is None for answer in parsed.answers)


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_with_bom_aliases_answers_and_multiline_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bank.csv",
        "ID,Prompt,Category,category_name,Model,Answer,notes\n"
        'c1,"Two\nlines?",QA,知识问答,m1,"Yes, **two**.",x\n'
        "c2,为什么？,,,,,\n",
        encoding="utf-8-sig",
    )
    parsed = parse_file(path)
    assert parsed.questions == [
        QuestionRecord("Two\nlines?", "QA", "知识问答", "en", "c1", "bank.csv:2", 2),
        QuestionRecord("为什么？", "GENERAL", "GENERAL", "zh", "c2", "bank.csv:4", 4),
    ]
    assert parsed.answers == [AnswerRecord("m1", "Yes, **two**.", None, "Two\nlines?", "bank.csv:2", 2)]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "id,category\n1,QA\n",
            1,
            'the header has no "text" column (or "question" or "prompt"); it has: id, category',
        ),
        ("text,question\na,b\n", 1, "the header names the question text twice (text and question); keep one"),
        ("text,model\na,m\n", 1, 'the header has one of "model" and "answer" without the other'),
        ("text,Text\na,b\n", 1, 'the column "text" appears twice in the header'),
        ("", 1, 'the file is empty; a CSV bank starts with a header row naming a "text" column'),
        ("id,text\n1,fine\n2,  \n", 3, "the question text is empty"),
        ("id,text\n1,fine\n2,too,many\n", 3, "the row has 3 cells but the header has 2"),
        ("text,model,answer\nq,m,\n", 2, 'the row names the model "m" but its "answer" cell is empty'),
        ("text,model,answer\nq,,a\n", 2, 'the row has an answer but its "model" cell is empty'),
    ],
)
def test_csv_rejects_with_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, "bank.csv", text)
    error = rejection(path)
    assert (error.line, error.reason) == (line, reason)


# --- seed markdown: cells and transcripts ---------------------------------------------------------


def test_split_cells_only_on_unescaped_pipes() -> None:
    assert split_cells(r"| 1 | a \| b | c |") == [" 1 ", r" a \| b ", " c "]
    assert split_cells(r"| x | ends with backslash \\| y |") == [" x ", r" ends with backslash \\", " y "]


def test_clean_cell_line_breaks_and_escapes() -> None:
    assert clean_cell(r" one<br/>two</br>three<br>four<BR />five \| \> \< \\ ") == (
        "one\ntwo\nthree\nfour\nfive | > < \\\\"
    )


def test_transcript_quotes_user_turns_and_separates_them() -> None:
    question, transcript = transcript_of("**> 你好** \n你好！\n\n有什么事？\n**> 再见**\n再见。")
    assert question == "你好"
    assert transcript == "> 你好\n\n你好！\n\n有什么事？\n\n> 再见\n\n再见。"
    assert transcript_of("> first\n> still first\nreply") == (
        "first\nstill first",
        "> first\n> still first\n\nreply",
    )
    assert transcript_of("no user turn here") == (None, "no user turn here")
    assert transcript_of("> 用法？\n>>> f(1)\n2") == ("用法？", "> 用法？\n\n>>> f(1)\n2")


# --- seed markdown: inline files ------------------------------------------------------------------

PER_CATEGORY = """# 知识问答

## 分数表

|              | 平均分 |  #1  |
| ------------ | :----: | :--: |
| **Plus-7B**  |  7.05  |  1   |

## 测试样例

| #    | Prompt           | 中文Plus-7B | 33B |
| ---- | ---------------- | ----------- | --- |
| 1    | 什么是 a\\|b？ | 是<br/>管道</br>符号 \\<b\\> | `a \\| b` |
| 2    | 为什么？ |  | 因为。 |
"""


def test_per_category_table(tmp_path: Path) -> None:
    path = write(tmp_path, "QA.md", PER_CATEGORY)
    parsed = parse_file(path)
    assert parsed.questions == [
        QuestionRecord("什么是 a|b？", "QA", "知识问答", "zh", None, "QA.md:13", 13),
        QuestionRecord("为什么？", "QA", "知识问答", "zh", None, "QA.md:14", 14),
    ]
    assert parsed.answers == [
        AnswerRecord("Plus-7B", "是\n管道\n符号 <b>", None, "什么是 a|b？", "QA.md:13", 13),
        AnswerRecord("33B", "`a | b`", None, "什么是 a|b？", "QA.md:13", 13),
        AnswerRecord("33B", "因为。", None, "为什么？", "QA.md:14", 14),
    ]
    assert parsed.notices == ["line 14: the Plus-7B cell is empty; no answer imported"]


def test_per_category_dialogue_table_uses_each_first_user_turn(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "DIALOGUE.md",
        "# 多轮交互\n\n| # | 主题 | 7B | 13B |\n| - | - | - | - |\n"
        "| 1 | 披萨 | > 怎么做披萨？<br/>先和面。<br/>> 海鲜的呢？<br/>加虾。 | > 怎么做披萨？<br/>烤。 |\n",
    )
    parsed = parse_file(path)
    assert parsed.questions == [
        QuestionRecord("怎么做披萨？", "DIALOGUE", "多轮交互", "zh", None, "DIALOGUE.md:5", 5)
    ]
    assert [(answer.model, answer.text) for answer in parsed.answers] == [
        ("7B", "> 怎么做披萨？\n\n先和面。\n\n> 海鲜的呢？\n\n加虾。"),
        ("13B", "> 怎么做披萨？\n\n烤。"),
    ]


PER_CATEGORY_CODE = """# 代码编程

## 测试样例

**1、写一个快速排序**

Plus-7B:

```
def quick_sort(arr):
    return sorted(arr)
```

33B:

````
Here:
```python
print(1)
```
````

| #    | Prompt | 中文Plus-7B | 中文33B |
| ---- | ------ | ----------- | ------- |
| 2    | 什么是 GIL？ | 一把锁。 | 全局解释器锁。 |
"""


def test_per_category_code_items_keep_their_fences(tmp_path: Path) -> None:
    path = write(tmp_path, "CODE.md", PER_CATEGORY_CODE)
    parsed = parse_file(path)
    assert [(question.text, question.line, question.category_code) for question in parsed.questions] == [
        ("写一个快速排序", 5, "CODE"),
        ("什么是 GIL？", 25, "CODE"),
    ]
    assert [(answer.model, answer.text, answer.line) for answer in parsed.answers] == [
        ("Plus-7B", "```\ndef quick_sort(arr):\n    return sorted(arr)\n```", 7),
        ("33B", "````\nHere:\n```python\nprint(1)\n```\n````", 14),
        ("Plus-7B", "一把锁。", 25),
        ("33B", "全局解释器锁。", 25),
    ]


PER_MODEL = """# Chinese-Alpaca-2-7B

以下是输出样例。

## 测试样例

### 多轮对话

| #    | Topic      | Response |
| ---- | ---------- | -------- |
| 1    | 介绍北京   | **> 你能介绍一下北京吗？** <br/>当然可以！<br/>**> 还有呢？**<br/>还有长城。 |

### 知识问答

| #    | Prompt | Response |
| ---- | ------ | -------- |
| 1    | 是谁发明了微积分？ | 牛顿和莱布尼茨。 |

### 代码编程

1、请用python实现快速排序的代码

``` python
def quick_sort(arr):
    return sorted(arr)
```

2、使用python写一个二分查找的代码

以下是示例：
1、先排序
2、再查找
```python
import bisect
```
说明文字。

### 其他

| #    | Prompt | Response |
| ---- | ------ | -------- |
| 1    | 今天星期几？ | 星期一。 |
"""


def test_per_model_file(tmp_path: Path) -> None:
    path = write(tmp_path, "alpaca-2-7b.md", PER_MODEL)
    parsed = parse_file(path)
    assert [
        (question.text, question.category_code, question.category_name, question.line)
        for question in parsed.questions
    ] == [
        ("你能介绍一下北京吗？", "DIALOGUE", "多轮对话", 11),
        ("是谁发明了微积分？", "QA", "知识问答", 17),
        ("请用python实现快速排序的代码", "CODE", "代码编程", 21),
        ("使用python写一个二分查找的代码", "CODE", "代码编程", 28),
        ("今天星期几？", "其他", "其他", 42),
    ]
    assert {answer.model for answer in parsed.answers} == {"Chinese-Alpaca-2-7B"}
    assert [answer.text for answer in parsed.answers] == [
        "> 你能介绍一下北京吗？\n\n当然可以！\n\n> 还有呢？\n\n还有长城。",
        "牛顿和莱布尼茨。",
        "``` python\ndef quick_sort(arr):\n    return sorted(arr)\n```",
        "以下是示例：\n1、先排序\n2、再查找\n```python\nimport bisect\n```\n说明文字。",
        "星期一。",
    ]


def test_file_without_a_bank_table_is_an_empty_bank_with_a_notice(tmp_path: Path) -> None:
    path = write(
        tmp_path, "README.md", "# 说明\n\n| file | what |\n| --- | --- |\n| a | b |\n\n1、不是题目\n"
    )
    assert parse_file(path) == ParsedBank(
        path=path, questions=[], answers=[], notices=["no question table found"]
    )


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "# 知识问答\n\n| # | Prompt | 7B |\n| - | - | - |\n| 1 | 问题？ | 答 | 多余 |\n",
            5,
            "the row has 4 cells but the table header (line 3) has 3; "
            "a '|' inside a cell must be written '\\|'",
        ),
        (
            "# 知识问答\n\n| # | Prompt | 7B |\n| - | - | - |\n| 1 | 问题？ | 答 |\n| 2 |  | 答 |\n",
            6,
            "the Prompt cell is empty",
        ),
        (
            "# 多轮交互\n\n| # | 主题 | 7B |\n| - | - | - |\n| 1 | 聊天 | 只有回答 |\n",
            5,
            "the 7B transcript has no user turn ('> ...' or '**> ...**'), "
            "so the question it answers is unknown",
        ),
        (
            "| # | Prompt | 7B |\n| - | - | - |\n| 1 | 问题？ | 答 |\n",
            1,
            "the file has no '# <category>' or '# <model>' title before its questions",
        ),
        ("# 代码编程\n\n**1、写代码**\n\n```\nprint(1)\n", 5, "a code fence opened here is never closed"),
        (
            "# 代码编程\n\n**1、写代码**\n\n随便说说\n",
            5,
            "in item 1, expected a '<model>:' line followed by a fenced code block, found '随便说说'",
        ),
        (
            "# 代码编程\n\n**1、写代码**\n\n7B:\n\nprint(1)\n",
            5,
            "in item 1, the answer of 7B is not a fenced code block",
        ),
        ("# 代码编程\n\n**1、写代码**\n\n", 3, "item 1 has no '<model>:' answers"),
        (
            "# 知识问答\n\n| # | Prompt | 中文 |\n| - | - | - |\n| 1 | 问题？ | 答 |\n",
            3,
            "column 3 of the table header has no model name",
        ),
        (
            "# Model-X\n\n| # | Prompt | Response |\n| - | - | - |\n| 1 | 问题？ | 答 |\n",
            3,
            "in a file per model, each table or item must sit under a '### <category>' heading",
        ),
        (
            "# Model-X\n\n### 知识问答\n\n| # | Prompt | Response |\n| - | - | - |\n| 1 | 问？ | 答 |\n\n"
            "| # | Prompt | 7B | 13B |\n| - | - | - | - |\n| 1 | 问？ | 答 | 答 |\n",
            9,
            "this file mixes tables with one Response column (one file per model) and tables with "
            "a column per model (one file per category); use one layout per file",
        ),
    ],
)
def test_markdown_rejects_with_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, "bank.md", text)
    error = rejection(path)
    assert (error.line, error.reason) == (line, reason)


# --- seed markdown: the real files ----------------------------------------------------------------


def test_real_license_is_skipped_with_a_notice() -> None:
    assert parse_file(LICENSE_MD) == ParsedBank(path=LICENSE_MD, notices=["no question table found"])


def test_real_per_category_files() -> None:
    qa, code = parse_file(QA_MD), parse_file(CODE_MD)
    assert (len(qa.questions), len(qa.answers), qa.notices) == (20, 60, [])
    assert (len(code.questions), len(code.answers), code.notices) == (20, 60, [])
    for parsed, category in ((qa, ("QA", "知识问答")), (code, ("CODE", "代码编程"))):
        assert {(question.category_code, question.category_name) for question in parsed.questions} == {
            category
        }
        assert Counter(answer.model for answer in parsed.answers) == {
            "Plus-7B": 20,
            "Plus-13B": 20,
            "33B": 20,
        }
    assert qa.questions[0].text == "我能用lightning数据线给安卓手机充电吗？"
    assert (qa.questions[0].line, qa.questions[-1].line) == (15, 34)
    # The code file: ten items with one fenced block per model, then a table for questions 11 to 20.
    assert [question.line for question in code.questions[:2]] == [13, 59]
    assert code.answers[0].text.startswith("```\ndef quick_sort(arr):") and code.answers[0].text.endswith(
        "\n```"
    )
    thirty_third = next(a for a in code.answers if a.model == "33B" and a.line == 165)
    assert thirty_third.text.startswith("````\n在PyTorch中") and thirty_third.text.endswith("```\n````")
    assert code.questions[10].text == "如何将PyTorch的FP32模型保存为半精度？"
    bash_answer = next(a for a in code.answers if a.model == "Plus-13B" and a.line == 536)
    assert bash_answer.text == "cat file1.txt file2.txt |sort -u > merged_file"


def test_real_per_model_file() -> None:
    parsed = parse_file(ALPACA_2_7B_MD)
    assert (len(parsed.questions), len(parsed.answers), parsed.notices) == (30, 30, [])
    assert {answer.model for answer in parsed.answers} == {"Chinese-Alpaca-2-7B"}
    categories = ["DIALOGUE", "QA", "OQA", "REASONING", "LITERATURE", "ENTERTAINMENT", "GENERATION"]
    categories += ["TRANSLATION", "CODE", "ETHICS"]
    assert Counter(question.category_code for question in parsed.questions) == dict.fromkeys(categories, 3)
    assert parsed.questions[0].text == "你是一个资深导游，你能介绍一下中国的首都吗？"
    assert parsed.answers[0].text.startswith("> 你是一个资深导游，你能介绍一下中国的首都吗？\n\n当然可以！")
    assert [question.text for question in parsed.questions if question.category_code == "CODE"] == [
        "请用python实现快速排序的代码",
        "请写出计算两个数的最大公约数(GCD)的Python代码",
        "使用python写一个二分查找的代码",
    ]
    last_code_answer = next(answer for answer in parsed.answers if answer.line == 112)
    assert last_code_answer.text.startswith("以下是Python实现二分查找算法的示例：\n```python\n")
    assert last_code_answer.text.endswith("最后，如果找不到目标值，则返回-1。")


def test_real_markdown_questions_are_the_questions_of_questions_jsonl() -> None:
    """Same text after whitespace normalisation, and same category: importing both stores each once."""
    by_sha = {question_text_sha256(q["text"]): q for q in read_jsonl(SEED_EXAMPLES / "questions.jsonl")}
    markdown_questions = [q for path in (ALPACA_2_7B_MD, CODE_MD, QA_MD) for q in parse_file(path).questions]
    assert len(markdown_questions) == 70
    assert len({question_text_sha256(q.text) for q in markdown_questions}) == 66
    for question in markdown_questions:
        stored = by_sha[question_text_sha256(question.text)]
        assert (question.category_code, question.category_name.replace("多轮对话", "多轮交互")) == (
            stored["category"],
            stored["category_zh"],
        )


def test_real_answers_are_the_answers_of_answers_jsonl() -> None:
    """Every answer but fenced code items and transcripts comes out exactly as answers.jsonl has it.

    That checks the cell handling (line breaks, escapes) on 115 real answers. The other 35 differ
    on purpose: answers.jsonl strips the fence around code items and runs a dialogue's turns
    together (which renders each reply inside the quote of the question before it).
    """
    questions = {q["id"]: q["text"] for q in read_jsonl(SEED_EXAMPLES / "questions.jsonl")}
    stored = {
        (question_text_sha256(questions[a["question_id"]]), a["model"], a["answer"])
        for a in read_jsonl(SEED_EXAMPLES / "answers.jsonl")
    }
    plain_answers = [
        answer
        for path in (ALPACA_2_7B_MD, CODE_MD, QA_MD)
        for answer in parse_file(path).answers
        if not answer.text.startswith(("```", ">"))
    ]
    assert len(plain_answers) == 60 + 30 + 25
    for answer in plain_answers:
        key = (question_text_sha256(answer.question_text or ""), FULL_MODEL_NAMES[answer.model], answer.text)
        assert key in stored, answer.source


def test_jsonl_answer_turns_become_a_transcript_with_quoted_user_turns(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    line = {
        "question_id": "q1",
        "model": "m",
        "answer": "> first\nreply one\n> second\nreply two",
        "turns": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply one"},
            {"role": "user", "content": "second\nmore"},
            {"role": "assistant", "content": "reply two"},
        ],
    }
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    [answer] = parse_file(path).answers
    assert answer.text == "> first\n\nreply one\n\n> second\n> more\n\nreply two"


@pytest.mark.parametrize(
    "turns",
    [[], "text", [{"role": "system", "content": "x"}], [{"role": "user", "content": 3}], ["user"]],
)
def test_jsonl_malformed_turns_are_rejected_with_the_line(tmp_path: Path, turns: object) -> None:
    path = tmp_path / "answers.jsonl"
    line = {"question_id": "q1", "model": "m", "answer": "a", "turns": turns}
    path.write_text("\n" + json.dumps(line) + "\n")
    with pytest.raises(ImportRejected, match=r"answers.jsonl:2: .*turn"):
        parse_file(path)
