"""The REST API's JSON parser (its own module: DRF's settings import it while rest_framework.views loads)."""

import itertools
import operator
import re
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers
from rest_framework.utils import json

# Deeper JSON is refused before it is decoded: Python's decoder recurses once per level of nesting, and
# no body this API takes nests more than a few levels.
MAX_JSON_DEPTH = 64
# A JSON string (its closing quote optional, so that an unterminated one ends the scan instead of being
# tried again from every later quote), and what is neither a string nor a bracket.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEPS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})


def json_nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, found without decoding it (in linear time and
    without recursion): the brackets outside strings, each opening one counted 2 and each closing one 0,
    so that the depth after the i-th bracket is the running sum minus i."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    steps = brackets.translate(_BRACKET_STEPS).encode("ascii")
    return max(map(operator.sub, itertools.accumulate(steps), itertools.count(1)))


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than MAX_JSON_DEPTH levels with a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            text = stream.read().decode(encoding)
            opened = text.count("[") + text.count("{")
            if opened > MAX_JSON_DEPTH and (depth := json_nesting_depth(text)) > MAX_JSON_DEPTH:
                raise exceptions.ParseError(
                    _("JSON nested %(depth)s levels deep: at most %(limit)s levels are accepted")
                    % {"depth": depth, "limit": MAX_JSON_DEPTH}
                )
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as error:  # also UnicodeDecodeError
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": error}) from None
