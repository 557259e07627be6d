"""The judges' part of the public API: their verdicts, exported."""

from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from arena.api import LARGEST_ID, ApiError, number_parameter
from arena.api_exports import (
    NOT_ACCEPTABLE,
    ExportNegotiation,
    export_format,
    next_page_linked,
    paging_parameters,
)
from judges import selectors_exports as exports
from judges.models import Judge
from ratings.api import category_of_request, category_parameter, not_found

_MEDIA_TYPES = {name: exports.CONTENT_TYPES[name].split(";")[0] for name in exports.FORMATS}


class VerdictsExport(APIView):
    """Every finished LLM-judge verdict on a voted battle (or a filtered part; a battle still open for
    voting is left out, so that its models stay unnamed), streamed in verdict order: JSON Lines
    (application/x-ndjson) or CSV (text/csv). One row per order a battle was judged in: score and sides
    in the battle's orientation (-2: B much better … 2: A much better; none when the reply could not be
    read), the label as the judge wrote it, the prompt version, and the battle's counted human vote
    (human_outcome, null without one). Without `format`, the format is the one the Accept header
    prefers (JSON Lines when it accepts anything). Page with `after` (the last verdict id you have) and
    `limit`: when more verdicts follow, the response has a Link header with rel="next" and an
    X-Next-Cursor header."""

    content_negotiation_class = ExportNegotiation

    @extend_schema(
        parameters=[
            *paging_parameters(exports.FORMATS, "verdicts"),
            OpenApiParameter(
                "judge",
                {"type": "integer", "minimum": 1, "maximum": LARGEST_ID},
                description="Verdicts of this judge (its id in the judge board's agreement, judge_id).",
            ),
            category_parameter,
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(response=OpenApiTypes.OBJECT, description="A malformed filter."),
            404: not_found,
            406: NOT_ACCEPTABLE,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        chosen = export_format(request, _MEDIA_TYPES)
        category = category_of_request(request)
        judge_id = number_parameter(request, "judge", minimum=1)
        if judge_id is not None and not Judge.objects.filter(pk=judge_id).exists():
            raise ApiError(404, "not_found", _("no judge %(id)s") % {"id": judge_id})
        selection = exports.VerdictFilter(
            after_id=number_parameter(request, "after", minimum=0) or 0,
            judge_id=judge_id,
            category_id=category.pk if category else None,
            limit=number_parameter(request, "limit", minimum=1, maximum=1_000_000),
        )
        last_id, more = exports.last_id_of_page(selection)
        response = StreamingHttpResponse(
            exports.verdicts_export(selection=selection, export_format=chosen),
            content_type=exports.CONTENT_TYPES[chosen],
        )
        patch_vary_headers(response, ("Accept",))
        response["Content-Disposition"] = f'attachment; filename="verdicts.{chosen}"'
        next_page_linked(response, request, last_id=last_id, more=more)
        return response
