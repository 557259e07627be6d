"""Style features of answers, and the style covariates of votes made from them: the inputs of style
control (ratings/style.py). numpy only, no Django.

Style features of one answer (`answer_style_features`, computed once per stored answer):
- length: a cheap tokenizer-free stand-in for LMArena's token count: every CJK character (Han
  ideographs, kana, Hangul syllables, bopomofo) counts one, every run of other letters, digits and
  underscores (a Latin word, a number, an identifier) counts one, and every run of other visible
  characters (punctuation, symbols, emoji) counts one; whitespace counts nothing. A byte-pair
  tokenizer gives roughly one token per English word and per Chinese character, so the proxy tracks
  tokens within a language; the covariate compares two answers to the same prompt, usually in the same
  language, so a constant factor between proxy and tokens cancels. Code blocks count (LMArena counts
  every token).
- headers: ATX headings, lines of 0-3 spaces, 1-6 '#', then a space, a tab or the end of the line.
- lists: list items, lines of any indentation (nested items count), then '-', '*', '+', or 1-9 digits
  followed by '.' or ')', then a space or a tab; a thematic break ("* * *", "- - -") is not an item.
- bold: spans **text** on one line (text without '*'), plus spans __text__ on one line (text without
  '_', and not inside a word: snake__case__ is not bold), counted apart and added as LMArena does;
  inline code `...` is skipped.
Headers, lists and bold ignore the inside of fenced code blocks: from a line of 0-3 spaces and 3 or
more '`' or '~' to a line of 0-3 spaces and at least as many of the same character (and nothing else),
or to the end of the answer when the fence is never closed. All four features add up over the turns
of a multi-turn battle (LMArena counts all of a side's answers together): sum them per side.

Covariates per vote (`style_covariates`), from the features of A's answer f_a and of B's f_b, as
LMArena's `preprocess_for_style`:
- the normalised difference d = (f_a - f_b) / (f_a + f_b + smoothing) for every feature, with
  smoothing = 1 as LMArena (its `add_one`; it also makes d = 0 when both are 0). smoothing = 0 gives
  (f_a - f_b) / (f_a + f_b), taken as 0 when both are 0;
- then each column standardised over the votes: (d - mean) / standard deviation (population, ddof
  0, as numpy's std). A column whose values are all equal (zero variance) becomes all 0 and is
  reported in `StyleCovariates.constant`; its coefficient is then 0 with a zero-width interval.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ratings.bootstrap import BoolArray, FloatArray

# --- style features of one answer ------------------------------------------------------------------------


class StyleFeatures(NamedTuple):
    """One answer's style: a tuple (length, headers, lists, bold), so a list of them is a (answers, 4)
    array for numpy."""

    length: int
    headers: int
    lists: int
    bold: int


STYLE_FEATURE_NAMES: tuple[str, ...] = StyleFeatures._fields

_CJK = (
    "\u2e80-\u2fdf"  # radicals
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f\u3190-\u31ff"  # bopomofo, kanbun, strokes, katakana extensions
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs: extension A, unified, compatibility
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0003134f"  # CJK ideographs: extensions B-G
)
_LENGTH_UNIT = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]+")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)", re.MULTILINE)
_LIST_ITEM = re.compile(  # not a thematic break ("- - -", "* * *"), then a list marker and a blank
    r"^(?! {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$)[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]", re.MULTILINE
)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"(?<!\w)__[^_\n]+__(?!\w)")


def _outside_code_fences(text: str) -> str:
    """The lines of `text` outside fenced code blocks (fence lines excluded), joined by newlines."""
    lines = text.splitlines()
    if "```" not in text and "~~~" not in text:
        return "\n".join(lines)
    kept: list[str] = []
    fence = ""  # the open fence's characters, "" outside a fence
    for line in lines:
        if fence:
            # A closing fence: 0-3 spaces, at least as many of the opening character, nothing else.
            stripped = line.strip()
            if _FENCE.match(line) and len(stripped) >= len(fence) and stripped == fence[0] * len(stripped):
                fence = ""
            continue
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end() :]):
            fence = opening.group(1)
            continue
        kept.append(line)
    return "\n".join(kept)


def answer_style_features(text: str) -> StyleFeatures:
    """Length, headers, list items and bold spans of one markdown answer (module docstring)."""
    body = _outside_code_fences(text)
    prose = _INLINE_CODE.sub("", body) if "`" in body else body
    return StyleFeatures(
        length=len(_LENGTH_UNIT.findall(text)),
        headers=len(_HEADER.findall(body)) if "#" in body else 0,
        lists=len(_LIST_ITEM.findall(body)),
        bold=len(_BOLD_STARS.findall(prose)) + len(_BOLD_UNDERSCORES.findall(prose)),
    )


# --- covariates per vote -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StyleCovariates:
    """The fit's covariates (`values`) and how they were made from the features."""

    values: FloatArray  # (votes, k), column-major: standardised normalised differences, the covariates
    names: tuple[str, ...]  # k names
    means: FloatArray  # (k,) of the normalised differences
    scales: FloatArray  # (k,) their standard deviations; 0 for a constant column
    constant: BoolArray  # (k,) zero variance: the column is all 0


def normalised_differences(
    features_a: npt.ArrayLike, features_b: npt.ArrayLike, *, smoothing: float = 1.0
) -> FloatArray:
    """Per vote and feature, (f_a - f_b) / (f_a + f_b + smoothing), 0 when the denominator is 0: the
    covariates before they are standardised. features_a and features_b are (votes, k) arrays of
    non-negative values: the features of side A's and of side B's answer."""
    side_a = np.asarray(features_a, dtype=np.float64)
    side_b = np.asarray(features_b, dtype=np.float64)
    if side_a.shape != side_b.shape or side_a.ndim != 2:
        raise ValueError(
            "features_a and features_b must both have shape (votes, k), "
            f"not {side_a.shape} and {side_b.shape}"
        )
    if not (np.isfinite(side_a).all() and np.isfinite(side_b).all()):
        raise ValueError("style features must be finite")
    if (side_a < 0).any() or (side_b < 0).any():
        raise ValueError("style features must not be negative")
    if smoothing < 0:
        raise ValueError("smoothing must not be negative")
    total = side_a + side_b + smoothing
    return np.divide(side_a - side_b, total, out=np.zeros_like(total), where=total > 0)


def standardised_covariates(
    differences: npt.ArrayLike, *, names: Sequence[str] = STYLE_FEATURE_NAMES
) -> StyleCovariates:
    """The normalised differences (votes, k), each column standardised over the votes (module
    docstring): the fit's covariates."""
    ratio = np.asarray(differences, dtype=np.float64)
    names = tuple(names)
    if ratio.ndim != 2 or ratio.shape[1] != len(names):
        raise ValueError(f"differences must have shape (votes, {len(names)}), not {ratio.shape}")
    # Computed a covariate per row, (k, votes), and returned transposed: a column-major (votes, k) array
    # whose transpose, the layout the fit works in, is free.
    rows = np.array(ratio.T, order="C")
    if rows.shape[1] == 0:
        zeros = np.zeros(len(names))
        return StyleCovariates(
            values=rows.T, names=names, means=zeros, scales=zeros, constant=np.ones(len(names), dtype=bool)
        )
    constant = rows.max(axis=1) == rows.min(axis=1)
    means = rows.mean(axis=1)
    scales = np.where(constant, 0.0, rows.std(axis=1))
    rows -= means[:, None]
    values = np.divide(rows, scales[:, None], out=np.zeros_like(rows), where=~constant[:, None])
    return StyleCovariates(values=values.T, names=names, means=means, scales=scales, constant=constant)


def style_covariates(
    features_a: npt.ArrayLike,
    features_b: npt.ArrayLike,
    *,
    names: Sequence[str] = STYLE_FEATURE_NAMES,
    smoothing: float = 1.0,
) -> StyleCovariates:
    """Per vote, (f_a - f_b) / (f_a + f_b + smoothing) for each feature (0 when the denominator is 0),
    each column then standardised over the votes (module docstring). features_a and features_b are
    (votes, k) arrays of non-negative values: the features of side A's and of side B's answer."""
    names = tuple(names)
    shape_a, shape_b = np.shape(features_a), np.shape(features_b)
    if shape_a != shape_b or len(shape_a) != 2 or shape_a[1] != len(names):
        raise ValueError(
            f"features_a and features_b must both have shape (votes, {len(names)}), "
            f"not {shape_a} and {shape_b}"
        )
    differences = normalised_differences(features_a, features_b, smoothing=smoothing)
    return standardised_covariates(differences, names=names)
