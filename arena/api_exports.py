"""What the API's streamed exports share: choosing the format from `format` and the Accept header
(RFC 9110 content negotiation, the formats in the order given when the client likes several as
well), and the headers of cursor paging."""

from collections.abc import Iterable

from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from arena.api import LARGEST_ID, ApiError, text_parameter

_MAX_ACCEPT_RANGES = 64


def _accept_ranges(header: str) -> list[tuple[str, str, float]]:
    """The media ranges of an Accept header as (type, subtype, quality); an absent header accepts
    anything, and a malformed range is skipped."""
    if not header.strip():
        return [("*", "*", 1.0)]
    ranges = []
    for item in header.split(",")[:_MAX_ACCEPT_RANGES]:
        media_range, *parameters = item.split(";")
        kind, slash, subtype = media_range.strip().lower().partition("/")
        if not (kind and slash and subtype) or (kind == "*" and subtype != "*"):
            continue
        quality = 1.0
        for parameter in parameters:
            name, _equals, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(1.0, max(0.0, float(value)))
                except ValueError:
                    quality = 0.0
        ranges.append((kind, subtype, quality))
    return ranges


def _preference(media_type: str, ranges: list[tuple[str, str, float]]) -> tuple[float, int]:
    """The quality a client's Accept gives a media type, from the most specific range that matches it
    (RFC 9110 12.5.1), and how specific that range is: 2 for the type itself, 1 for type/*, 0 for */*;
    (0.0, -1) when no range matches."""
    kind, subtype = media_type.split("/")
    best = (0.0, -1)
    for range_kind, range_subtype, quality in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == range_subtype == "*":
            specificity = 0
        else:
            continue
        if specificity > best[1] or (specificity == best[1] and quality > best[0]):
            best = (quality, specificity)
    return best


def export_format(request: Request, media_types: dict[str, str]) -> str:
    """The format asked for among `media_types` (format → media type, in the order preferred): `format`
    when given (it must be one the Accept header allows), else the served type the Accept header likes
    best, else the first."""
    ranges = _accept_ranges(request.headers.get("Accept", ""))
    choices = ", ".join(media_types)
    asked = text_parameter(request, "format")
    if asked is not None:
        if asked not in media_types:
            raise ApiError(400, "invalid", _("format must be one of %(choices)s") % {"choices": choices})
        if _preference(media_types[asked], ranges)[0] == 0:
            raise ApiError(
                406,
                "not_acceptable",
                _("format=%(format)s is served as %(media_type)s, which the Accept header does not accept")
                % {"format": asked, "media_type": media_types[asked]},
            )
        return asked
    scored = []
    for order, name in enumerate(media_types):
        quality, specificity = _preference(media_types[name], ranges)
        if quality > 0:
            scored.append((-quality, -specificity, order, name))
    if not scored:
        raise ApiError(
            406,
            "not_acceptable",
            _("the export is served as %(media_types)s; the Accept header accepts none of them")
            % {"media_types": ", ".join(media_types.values())},
        )
    return min(scored)[3]


class ExportNegotiation(DefaultContentNegotiation):
    """An export negotiates its own formats (export_format); all DRF renders for it is an error body,
    which is JSON whatever the Accept header says."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


def next_page_linked(
    response: HttpResponseBase, request: Request, *, last_id: int | None, more: bool
) -> None:
    """When more rows follow the page, a Link header with rel="next" (the same query, `after` the
    page's last id) and an X-Next-Cursor header."""
    if more and last_id is not None:
        query = request.query_params.copy()
        query["after"] = str(last_id)
        response["Link"] = f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="next"'
        response["X-Next-Cursor"] = str(last_id)


def paging_parameters(formats: Iterable[str], rows: str) -> list[OpenApiParameter]:
    """An export's `format`, `after` and `limit` parameters, for its schema (`rows`: "votes", ...)."""
    return [
        OpenApiParameter(
            "format",
            OpenApiTypes.STR,
            enum=list(formats),
            description="Default: the type the Accept header prefers, else jsonl.",
        ),
        OpenApiParameter(
            "after",
            {"type": "integer", "minimum": 0, "maximum": LARGEST_ID},
            description=f"Only {rows} with a larger id (the cursor).",
        ),
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            description=f"At most this many {rows}.",
        ),
    ]


NOT_ACCEPTABLE = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="The Accept header accepts none of the export's types, or not the one `format` asks for.",
)
