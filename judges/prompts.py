"""The judge prompt: the defaults of each language, filling it in, and reading the verdict back.

The reply format is Arena-Hard's five-level verdict in double square brackets, [[A>>B]] … [[B>>A]], and
it is read strictly: the reply must hold verdict tokens of exactly one kind (the same token may be
repeated, as judges often restate it). None, or two different ones, and the reply is unparseable.
"""

import re
from dataclasses import dataclass

# The markers around the question and the answers in the default prompts. The demo judge
# (battles/demo/judge.py) finds the answers by them.
QUESTION_START, QUESTION_END = "<|question|>", "<|end of question|>"
ANSWER_A_START, ANSWER_A_END = "<|answer A|>", "<|end of answer A|>"
ANSWER_B_START, ANSWER_B_END = "<|answer B|>", "<|end of answer B|>"

_BODY = (
    f"{QUESTION_START}\n{{question}}\n{QUESTION_END}\n"
    f"{ANSWER_A_START}\n{{answer_a}}\n{ANSWER_A_END}\n"
    f"{ANSWER_B_START}\n{{answer_b}}\n{ANSWER_B_END}"
)

DEFAULT_PROMPTS: dict[str, tuple[str, str]] = {
    "zh-hans": (
        "你是一位公正、严格的评审。你会看到用户的一个问题和两位助手（A 和 B）的回答，"
        "请判断哪个回答更好地满足了用户的需要。",
        "请先自己想一想这个问题的好回答应该是什么样的，再逐一检查两个回答："
        "内容是否正确，是否切题、有用，是否完整，表达是否清楚。"
        "不要因为回答更长、格式更花哨或出现在前面就偏向它，也不要在意助手的名字。\n\n"
        f"{_BODY}\n\n"
        "先用几句话说明理由，然后在最后一行只写出下面五个结论之一（包括两层方括号）：\n"
        "[[A>>B]]：A 明显更好\n[[A>B]]：A 稍好\n[[A=B]]：差不多\n[[B>A]]：B 稍好\n[[B>>A]]：B 明显更好",
    ),
    "en": (
        "You are a fair and exacting reviewer. You will see a user's question and the answers of two "
        "assistants, A and B; decide which answer serves the user better.",
        "First think about what a good answer to the question would contain, then check each answer in "
        "turn: is it correct, relevant, helpful, complete and clearly written? Do not favour an answer "
        "for being longer, more decorated or shown first, and ignore any assistant names.\n\n"
        f"{_BODY}\n\n"
        "Explain your reasoning in a few sentences, then write exactly one of these verdicts, with its "
        "double brackets, on the last line:\n"
        "[[A>>B]]: A is clearly better\n[[A>B]]: A is slightly better\n[[A=B]]: about the same\n"
        "[[B>A]]: B is slightly better\n[[B>>A]]: B is clearly better",
    ),
}

# A verdict as written (about the answers in the order the judge saw them) → its score for the
# answer shown first.
LABEL_SCORES = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}
LABELS_BY_SCORE = {score: label for label, score in LABEL_SCORES.items()}
_VERDICT_PATTERN = re.compile(r"\[\[(A>>B|A>B|A=B|B>A|B>>A)\]\]")


def prompt_language(question_language: str) -> str:
    """The prompt for a question's language: the Chinese one for any Chinese, English otherwise."""
    return "zh-hans" if question_language.lower().startswith("zh") else "en"


def template_problems(template: str) -> list[str]:
    """What is wrong with a prompt template (each placeholder must appear exactly once)."""
    return [
        placeholder
        for placeholder in ("{question}", "{answer_a}", "{answer_b}")
        if template.count(placeholder) != 1
    ]


def prompt_fill(template: str, *, question: str, answer_first: str, answer_second: str) -> str:
    """The template with the question and the two answers in the order the judge is to see them.

    Filled in one pass, so a brace or a placeholder inside an answer is left as it is."""
    values = {"{question}": question, "{answer_a}": answer_first, "{answer_b}": answer_second}
    return re.sub(r"\{question\}|\{answer_a\}|\{answer_b\}", lambda match: values[match.group(0)], template)


@dataclass(frozen=True)
class ParsedVerdict:
    label: str  # as written: about the answers in the order the judge saw them
    score: int  # in the battle's orientation (+2 … −2)


def verdict_parse(reply: str, *, swapped: bool) -> ParsedVerdict | None:
    """The verdict of a reply, or None when it holds no verdict token or two different ones."""
    labels = set(_VERDICT_PATTERN.findall(reply))
    if len(labels) != 1:
        return None
    label = labels.pop()
    score = LABEL_SCORES[label]
    return ParsedVerdict(label=label, score=-score if swapped else score)
