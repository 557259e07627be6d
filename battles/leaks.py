"""Answers that give a model away: a text that names a contender, by its name, its family or its
maker ("我是通义千问，由阿里云开发", "As ChatGPT, …"). A battle showing one is not anonymous, so such
answers are kept out of battles and votes on battles that showed one are left out of the boards.

Each contender has aliases (Contender.aliases, staff edit them); new contenders get defaults from
their name: the name itself, and the family, product and maker names of the family the name belongs
to. Matching is case- and width-insensitive (全角 ＧＰＴ is GPT); a Latin alias matches as a whole word
(Meta is not in "metadata"), a Chinese one anywhere.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A family: words in a contender's name that put it in the family, and the aliases its answers must
# not say. Shared by every contender of the family.
FAMILIES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (
        ("qwen", "通义", "千问", "qwq"),
        ("通义千问", "通义", "千问", "Qwen", "阿里巴巴", "阿里云", "阿里", "Alibaba"),
    ),
    (("ernie", "文心"), ("文心一言", "文心", "ERNIE", "百度", "Baidu")),
    (("gpt", "openai", "o1-", "o3-", "o4-"), ("ChatGPT", "GPT", "OpenAI")),
    (("claude",), ("Claude", "Anthropic")),
    (("deepseek", "深度求索"), ("DeepSeek", "深度求索")),
    (("llama", "alpaca", "vicuna"), ("LLaMA", "Llama", "Meta")),
    (("gemini", "gemma", "bard"), ("Gemini", "Gemma", "Bard", "Google", "谷歌")),
    (("glm", "智谱", "zhipu"), ("ChatGLM", "GLM", "智谱", "Zhipu")),
    (("kimi", "moonshot", "月之暗面"), ("Kimi", "月之暗面", "Moonshot")),
    (("doubao", "豆包", "skylark", "云雀"), ("豆包", "Doubao", "字节跳动", "ByteDance", "云雀")),
    (("mistral", "mixtral", "ministral", "codestral"), ("Mistral", "Mixtral")),
    (("yi-", "零一万物", "01-ai"), ("零一万物", "01.AI")),
    (("baichuan", "百川"), ("百川", "Baichuan")),
    (("hunyuan", "混元"), ("混元", "Hunyuan", "腾讯", "Tencent")),
    (("spark", "星火"), ("讯飞星火", "星火", "科大讯飞", "iFlytek")),
    (("minimax", "abab"), ("MiniMax", "海螺")),
    (("grok",), ("Grok", "xAI")),
    (("phi-",), ("Phi",)),
]

MAX_ALIAS_LENGTH = 60


def normalised(text: str) -> str:
    """Width- and case-folded: full-width letters and digits become ASCII, case is folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def default_aliases(name: str) -> list[str]:
    """A new contender's aliases: its name, and its family's names and makers."""
    key = normalised(name)
    aliases = [name.strip()]
    for words, family in FAMILIES:
        if any(word in key for word in words):
            aliases.extend(family)
    seen: set[str] = set()
    unique = []
    for alias in aliases:
        if alias and normalised(alias) not in seen:
            seen.add(normalised(alias))
            unique.append(alias)
    return unique


def clean_aliases(aliases: Iterable[str]) -> list[str]:
    """Aliases as staff typed them: trimmed, empty and repeated ones dropped, each at most 60 characters."""
    seen: set[str] = set()
    cleaned = []
    for alias in aliases:
        alias = " ".join(str(alias).split())[:MAX_ALIAS_LENGTH]
        if alias and normalised(alias) not in seen:
            seen.add(normalised(alias))
            cleaned.append(alias)
    return cleaned


def _pattern(alias: str) -> str:
    folded = re.escape(normalised(alias))
    # A Latin (or digit) end matches only at a word's edge; a Chinese end anywhere.
    start = r"(?<![0-9a-z])" if re.match(r"[0-9a-z]", normalised(alias)) else ""
    end = r"(?![0-9a-z])" if re.search(r"[0-9a-z]$", normalised(alias)) else ""
    return f"{start}{folded}{end}"


@dataclass(frozen=True)
class LeakMatcher:
    """Finds the aliases an answer names, from every contender's aliases at once (one regex)."""

    regex: re.Pattern[str] | None
    alias_of: Mapping[str, str]  # normalised alias → alias as written

    @classmethod
    def of(cls, aliases: Iterable[str]) -> "LeakMatcher":
        alias_of: dict[str, str] = {}
        for alias in aliases:
            if alias.strip():
                alias_of.setdefault(normalised(alias.strip()), alias.strip())
        if not alias_of:
            return cls(regex=None, alias_of={})
        # Longest first: "通义千问" is reported rather than "通义".
        ordered = sorted(alias_of, key=len, reverse=True)
        return cls(regex=re.compile("|".join(_pattern(alias) for alias in ordered)), alias_of=alias_of)

    def find(self, text: str) -> list[str]:
        """The aliases the text names, as written in the aliases, in order of first mention."""
        if self.regex is None or not text:
            return []
        found: list[str] = []
        for match in self.regex.finditer(normalised(text)):
            alias = self.alias_of[match.group(0)]
            if alias not in found:
                found.append(alias)
        return found
