"""The demo judge ("arbiter") of the demo endpoint: reads a judge prompt, compares, writes a verdict.

Standard library only, like endpoint.py, which serves it. Kept apart from the answering models so they
stay easy to read; it imports nothing from endpoint.py, because `python -m battles.demo.endpoint` runs
that module as __main__ and an import back would load a second copy of it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# The arena's default judge prompts put the question and the two answers between these lines, each
# marker on a line of its own, in this order; the instructions around them may be in any language.
JUDGE_MARKERS: Final[Mapping[str, tuple[str, str]]] = {
    "question": ("<|question|>", "<|end of question|>"),
    "answer_a": ("<|answer A|>", "<|end of answer A|>"),
    "answer_b": ("<|answer B|>", "<|end of answer B|>"),
}
_MARKER_LINES: Final = tuple(marker for pair in JUDGE_MARKERS.values() for marker in pair)
_MARKER_LINE_PATTERN: Final = re.compile(
    r"^[ \t]*(" + "|".join(re.escape(marker) for marker in _MARKER_LINES) + r")[ \t]*\r?$", re.MULTILINE
)

VERDICTS: Final = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
# Differences of the two scores (A minus B): below the first the answers tie, from the second on the
# better one is "much better".
TIE_BELOW: Final = 0.02
MUCH_BETTER_FROM: Final = 0.25

# Similarity is the share of the answer's word 4-grams found in the reference (its wording, in its
# order), times the share of the reference's words it covers to a small power. Precision first, so
# the demo models rank sage > brief > jumble > parrot: a short verbatim extract beats a shuffled,
# damaged full text, which a plain overlap (e.g. the Dice coefficient of bigrams) ranks the other way.
_NGRAM_SIZE: Final = 4
_COVERAGE_EXPONENT: Final = 0.15

_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "intro": "I compared both answers with the reference answer.",
        "much_better": "Answer {winner} is much closer to the reference ({a:.2f} vs {b:.2f}).",
        "better": "Answer {winner} is closer to the reference ({a:.2f} vs {b:.2f}).",
        "tie": "Both answers are about equally close to the reference ({a:.2f} vs {b:.2f}).",
        "unparseable": (
            "Both answers have their merits and the question is subtle; I keep going back and forth "
            "and would rather think about it a little longer."
        ),
    },
    "zh": {
        "intro": "我把两个回答分别和参考答案作了比较。",
        "much_better": "回答 {winner} 明显更接近参考答案（{a:.2f} 对 {b:.2f}）。",
        "better": "回答 {winner} 更接近参考答案（{a:.2f} 对 {b:.2f}）。",
        "tie": "两个回答与参考答案的接近程度相当（{a:.2f} 对 {b:.2f}）。",
        "unparseable": "两个回答各有长处，这个问题也不简单，我反复比较，还想再斟酌一下。",
    },
}


class JudgePromptError(ValueError):
    """The prompt lacks the markers, or has them repeated or out of order."""


@dataclass(frozen=True)
class JudgeSections:
    question: str
    answer_a: str
    answer_b: str


@dataclass(frozen=True)
class JudgeSettings:
    noise: float = 0.2  # standard deviation of the Gaussian noise added to each score
    position_bias: float = 0.05  # added to answer A's score: A is shown first; may be negative
    unparseable_share: float = 0.0  # probability of a reply without a verdict


def format_judge_sections(question: str, answer_a: str, answer_b: str) -> str:
    """The marked block a judge prompt embeds, as the arena's default prompts write it."""
    texts = (question, answer_a, answer_b)
    return "\n".join(
        f"{start}\n{text}\n{end}" for (start, end), text in zip(JUDGE_MARKERS.values(), texts, strict=True)
    )


def parse_judge_prompt(prompt: str) -> JudgeSections:
    """The question and the two answers, stripped; every marker must be there once, in order."""
    found = list(_MARKER_LINE_PATTERN.finditer(prompt))
    found_markers = [match.group(1) for match in found]
    if found_markers != list(_MARKER_LINES):
        missing = [marker for marker in _MARKER_LINES if marker not in found_markers]
        repeated = sorted({marker for marker in found_markers if found_markers.count(marker) > 1})
        if missing:
            problem = f"lacks the line(s) {', '.join(missing)}"
        elif repeated:
            problem = f"repeats the line(s) {', '.join(repeated)}"
        else:
            problem = "has the markers out of order"
        raise JudgePromptError(
            f"the judge prompt (the last user message) {problem}; it needs each of "
            f"{', '.join(_MARKER_LINES)} once, on a line of its own, in this order"
        )
    texts = [
        prompt[start.end() : end.start()].strip() for start, end in zip(found[::2], found[1::2], strict=True)
    ]
    return JudgeSections(question=texts[0], answer_a=texts[1], answer_b=texts[2])


def similarity(answer_words: Sequence[str], reference_words: Sequence[str]) -> float:
    """In [0, 1]; 1 for the reference itself, 0 when no four words in a row come from the reference."""
    if list(answer_words) == list(reference_words):
        return 1.0
    # Texts shorter than four words are compared as one n-gram, so a short verbatim answer still counts.
    size = max(1, min(_NGRAM_SIZE, len(answer_words), len(reference_words)))
    answer_ngrams = _ngrams(answer_words, size)
    shared = sum((answer_ngrams & _ngrams(reference_words, size)).values())
    precision = shared / max(1, sum(answer_ngrams.values()))
    covered = sum((Counter(answer_words) & Counter(reference_words)).values())
    coverage = covered / max(1, len(reference_words))
    return precision * coverage**_COVERAGE_EXPONENT


def verdict_for(difference: float) -> str:
    """The verdict for score A minus score B."""
    if abs(difference) < TIE_BELOW:
        return "A=B"
    much = abs(difference) >= MUCH_BETTER_FROM
    if difference > 0:
        return "A>>B" if much else "A>B"
    return "B>>A" if much else "B>A"


def judge_reply(
    similarity_a: float, similarity_b: float, *, chinese: bool, settings: JudgeSettings, seed_text: str
) -> str:
    """A sentence or two of reasoning, then the verdict as `[[A>B]]` on a line of its own."""
    generator = random.Random(seed_text)  # a str seed is hashed stably, not per process
    # All three draws happen whatever the settings, so changing one setting leaves the others' effect
    # on a given request unchanged.
    score_a = similarity_a + settings.position_bias + generator.gauss(0.0, settings.noise)
    score_b = similarity_b + generator.gauss(0.0, settings.noise)
    unparseable = generator.random() < settings.unparseable_share
    reasons = _REASONS["zh" if chinese else "en"]
    if unparseable:
        return reasons["unparseable"]
    verdict = verdict_for(score_a - score_b)
    strength = "tie" if verdict == "A=B" else "much_better" if ">>" in verdict else "better"
    reason = reasons[strength].format(winner=verdict[0], a=score_a, b=score_b)
    separator = "" if chinese else " "
    return f"{reasons['intro']}{separator}{reason}\n\n[[{verdict}]]"


def _ngrams(words: Sequence[str], size: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[index : index + size]) for index in range(len(words) - size + 1))
