"""REST API of the ratings: leaderboards, snapshot history, matrices, vote exports, a staff refresh."""

from datetime import UTC, datetime

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena import stores
from arena.api import (
    LARGEST_ID,
    ApiError,
    IdCursorPagination,
    not_modified_or,
    number_parameter,
    text_parameter,
    whole_number,
)
from arena.api_exports import (
    NOT_ACCEPTABLE,
    ExportNegotiation,
    export_format,
    next_page_linked,
    paging_parameters,
)
from battles.models import Category
from battles.selectors import category_by_code, contender_names_by_id, contenders_last_updated_at
from judges.selectors import judge_board_latest, judge_snapshot_find, judge_snapshot_latest
from judges.serializers import JudgeBoardSerializer, judge_board_data
from ratings import selectors_exports as exports
from ratings.models import RatingSnapshot
from ratings.selectors import matrices_of_snapshot, snapshot_find, snapshot_latest, snapshots_of_board
from ratings.serializers import (
    CleanBattleSerializer,
    LeaderboardSerializer,
    MatricesSerializer,
    RefreshQueuedSerializer,
    SnapshotBoardSerializer,
    SnapshotSerializer,
    empty_leaderboard_data,
    empty_matrices_data,
    leaderboard_data,
)

category_parameter = OpenApiParameter(
    "category", OpenApiTypes.STR, description="A category code; without it, all categories together."
)
snapshot_parameter = OpenApiParameter(
    "snapshot",
    {"type": "integer", "minimum": 1, "maximum": LARGEST_ID},
    description="A snapshot id; default the latest.",
)
board_parameter = OpenApiParameter(
    "board",
    OpenApiTypes.STR,
    enum=["raw", "style", "judge"],
    description=(
        "raw (default): rows in the order of the Bradley–Terry rating; style: in the order of the "
        "style-controlled rating (answer length and markdown held constant; the coefficients are in "
        "snapshot.parameters.style). Rows carry both ratings either way. judge: the board fitted to the "
        "LLM judges' verdicts, with each judge's agreement with the voters (a different body: "
        "JudgeBoard; snapshot then names a judge board snapshot)."
    ),
)
retired_parameter = OpenApiParameter(
    "retired",
    OpenApiTypes.BOOL,
    description="true: include retired contenders (hidden by default; ranks are among the rows shown).",
)
not_found = OpenApiResponse(response=OpenApiTypes.OBJECT, description="No such category or snapshot.")


def _board_view(request: Request) -> tuple[str, bool]:
    """The board asked for (raw or style) and whether retired contenders are shown."""
    board = text_parameter(request, "board")
    if board is None:
        board = "raw"
    if board not in ("raw", "style", "judge"):
        raise ApiError(
            400, "invalid", _("board must be raw, style or judge, not %(board)r") % {"board": board}
        )
    retired = text_parameter(request, "retired")
    retired = "false" if retired is None else retired.lower()
    if retired not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid", _("retired must be true or false, not %(value)r") % {"value": retired})
    return board, retired in ("true", "1")


def category_of_request(request: Request) -> Category | None:
    """The category the `category` parameter names (404 if none has that code); None without one."""
    code = text_parameter(request, "category")
    if not code:
        return None
    category = category_by_code(code=code)
    if category is None:
        raise ApiError(404, "not_found", _("no category %(code)r") % {"code": code})
    return category


def _snapshot(request: Request) -> tuple[RatingSnapshot | None, Category | None]:
    """The snapshot asked for by id, else the board's latest, with the board's category: no snapshot
    for a board that has none yet (an empty board, not an error)."""
    raw = text_parameter(request, "snapshot")
    if raw is None:
        category = category_of_request(request)
        return snapshot_latest(category=category), category
    if not whole_number(raw) or not 1 <= int(raw) <= LARGEST_ID:
        raise ApiError(400, "invalid", _("snapshot must be a snapshot id"))
    snapshot = snapshot_find(snapshot_id=int(raw))
    asked = category_of_request(request) if text_parameter(request, "category") else None
    if snapshot is None:
        raise ApiError(404, "not_found", _("no snapshot %(id)s") % {"id": raw})
    if asked is not None and snapshot.category_id != asked.pk:
        raise ApiError(
            400,
            "invalid",
            _("snapshot %(id)s is not a snapshot of category %(code)r") % {"id": raw, "code": asked.code},
        )
    return snapshot, snapshot.category


def _board_etag(snapshot: RatingSnapshot) -> str:
    """A snapshot never changes, but the names it shows are read live: a renamed contender changes
    the tag too."""
    renamed = contenders_last_updated_at()
    return f"snapshot-{snapshot.pk}-{int(renamed.timestamp() * 1000) if renamed else 0}"


# The tag of a board with no snapshot yet; a board's first snapshot changes it.
_EMPTY_BOARD_ETAG = "board-empty"


class Leaderboard(APIView):
    """The leaderboard: the latest snapshot of a board (or a given one) with a row per contender, best first.

    Before a board's first snapshot it is empty: no rows, 0 votes, a null snapshot id and time.
    Poll cheaply: send If-None-Match with the ETag you got; 304 means nothing changed.
    """

    @extend_schema(
        parameters=[category_parameter, snapshot_parameter, board_parameter, retired_parameter],
        responses={
            200: PolymorphicProxySerializer(
                component_name="AnyBoard",
                serializers={
                    "raw": LeaderboardSerializer,
                    "style": LeaderboardSerializer,
                    "judge": JudgeBoardSerializer,
                },
                resource_type_field_name="board",
            ),
            304: OpenApiResponse(description="Not modified."),
            404: not_found,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        board, with_retired = _board_view(request)
        if board == "judge":
            return _judge_board(request, with_retired=with_retired)
        snapshot, category = _snapshot(request)
        if snapshot is None:
            return not_modified_or(
                request,
                etag=_EMPTY_BOARD_ETAG,
                last_modified=None,
                build=lambda: Response(empty_leaderboard_data(category, board=board)),
            )
        return not_modified_or(
            request,
            etag=_board_etag(snapshot),
            last_modified=snapshot.created_at.timestamp(),
            build=lambda: Response(leaderboard_data(snapshot, board=board, with_retired=with_retired)),
        )


def _judge_board(request: Request, *, with_retired: bool) -> HttpResponse:
    raw = text_parameter(request, "snapshot")
    if raw is None:
        category = category_of_request(request)
        snapshot = judge_snapshot_latest(category=category)
    else:
        if not whole_number(raw) or not 1 <= int(raw) <= LARGEST_ID:
            raise ApiError(400, "invalid", _("snapshot must be a snapshot id"))
        snapshot = judge_snapshot_find(snapshot_id=int(raw))
        if snapshot is None:
            raise ApiError(404, "not_found", _("no judge board snapshot %(id)s") % {"id": raw})
        asked = category_of_request(request) if text_parameter(request, "category") else None
        if asked is not None and snapshot.category_id != asked.pk:
            raise ApiError(
                400,
                "invalid",
                _("snapshot %(id)s is not a snapshot of category %(code)r") % {"id": raw, "code": asked.code},
            )
        category = snapshot.category
    renamed = contenders_last_updated_at()
    etag = (
        f"judge-{snapshot.pk}-{int(renamed.timestamp() * 1000) if renamed else 0}"
        if snapshot
        else "judge-board-empty"
    )
    return not_modified_or(
        request,
        etag=etag,
        last_modified=snapshot.created_at.timestamp() if snapshot else None,
        build=lambda: Response(
            judge_board_data(
                judge_board_latest(
                    category=category,
                    with_retired=with_retired,
                    with_categories=category is None,
                    snapshot=snapshot,
                ),
                category,
            )
        ),
    )


@extend_schema(parameters=[category_parameter])
class SnapshotList(generics.ListAPIView[RatingSnapshot]):
    """The history of a board: its snapshots, newest first (older ones thinned to one a day)."""

    serializer_class = SnapshotSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return snapshots_of_board(category=category_of_request(self.request))


class SnapshotDetail(APIView):
    """One snapshot with its rows."""

    @extend_schema(responses={200: SnapshotBoardSerializer, 404: not_found})
    def get(self, request: Request, pk: int) -> HttpResponse:
        snapshot = snapshot_find(snapshot_id=pk)
        if snapshot is None:
            raise ApiError(404, "not_found", _("no snapshot %(id)s") % {"id": pk})
        return not_modified_or(
            request,
            etag=_board_etag(snapshot),
            last_modified=snapshot.created_at.timestamp(),
            build=lambda: Response(leaderboard_data(snapshot)),
        )


class Matrices(APIView):
    """Pairwise matrices of a snapshot: battle counts, observed win rates (ties excluded), and Bradley–Terry's
    predicted win probabilities. Kept for the newest snapshots of each board; empty before the board's
    first snapshot. For the raw board only: board=style or board=judge is refused (400)."""

    @extend_schema(
        parameters=[
            category_parameter,
            snapshot_parameter,
            OpenApiParameter(
                "board", OpenApiTypes.STR, enum=["raw"], description="raw only (the default); others: 400."
            ),
        ],
        responses={
            200: MatricesSerializer,
            400: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="A board other than raw, or a snapshot malformed or of another category.",
            ),
            404: not_found,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        board = text_parameter(request, "board")
        if board not in (None, "raw"):
            # Not ignored: a client asking for another board's matrices would get these unawares.
            raise ApiError(
                400,
                "invalid",
                _(
                    "matrices are kept for the raw board only (its predicted win rates are the plain "
                    "Bradley–Terry fit's), not for board %(board)r: leave board out"
                )
                % {"board": board},
            )
        snapshot, category = _snapshot(request)
        if snapshot is None:
            return not_modified_or(
                request,
                etag=_EMPTY_BOARD_ETAG,
                last_modified=None,
                build=lambda: Response(empty_matrices_data(category)),
            )
        matrices = matrices_of_snapshot(snapshot=snapshot)
        if matrices is None:
            raise ApiError(
                404,
                "not_found",
                _("the matrices of snapshot %(id)s are no longer kept") % {"id": snapshot.pk},
            )
        names = contender_names_by_id(contender_ids=matrices.contender_ids)
        return not_modified_or(
            request,
            etag=f"matrices-{snapshot.pk}",
            last_modified=snapshot.created_at.timestamp(),
            build=lambda: Response(MatricesSerializer(matrices, context={"names": names}).data),
        )


def _time(request: Request, name: str) -> datetime | None:
    raw = text_parameter(request, name)
    if raw is None:
        return None
    try:
        parsed = parse_datetime(raw)
    except ValueError:  # a well-formed time that does not exist, such as 25:00
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(
            400,
            "invalid",
            _("%(name)s must be an ISO 8601 time with a zone, e.g. %(example)s")
            % {"name": name, "example": "2026-05-01T00:00:00Z"},
        )
    try:
        return parsed.astimezone(UTC)  # the database takes offsets of at most 15 hours
    except OverflowError:
        raise ApiError(400, "invalid", _("%(name)s is out of range") % {"name": name}) from None


# The media type each export format is served as, in the order preferred when the client likes several
# as well: JSON Lines, CSV, clean_battle (JSON).
_EXPORT_MEDIA_TYPES = {name: exports.CONTENT_TYPES[name].split(";")[0] for name in exports.FORMATS}


class VotesExport(APIView):
    """All votes (or a filtered part), streamed in vote order: JSON Lines (application/x-ndjson), CSV
    (text/csv), or Chatbot Arena's clean_battle format (application/json). Without `format`, the
    format is the one the Accept header prefers (JSON Lines when it accepts anything); a `format` the
    Accept header does not accept is answered 406. Page with `after` (the last vote id you have) and
    `limit`: when more votes follow, the response has a Link header with rel="next" and an
    X-Next-Cursor header."""

    content_negotiation_class = ExportNegotiation

    @extend_schema(
        parameters=[
            *paging_parameters(exports.FORMATS, "votes"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Votes cast at or after this time."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Votes cast before this time."),
            OpenApiParameter(
                "contender",
                {"type": "integer", "minimum": 1, "maximum": LARGEST_ID},
                description="Votes of this contender.",
            ),
            category_parameter,
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): CleanBattleSerializer(many=True),
            400: OpenApiResponse(response=OpenApiTypes.OBJECT, description="A malformed filter."),
            404: not_found,
            406: NOT_ACCEPTABLE,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        if request.query_params.get("format") == "":
            choices = ", ".join(exports.FORMATS)
            raise ApiError(400, "invalid", _("format must be one of %(choices)s") % {"choices": choices})
        chosen = export_format(request, _EXPORT_MEDIA_TYPES)
        category = category_of_request(request)
        selection = exports.VoteFilter(
            after_id=number_parameter(request, "after", minimum=0) or 0,
            since=_time(request, "since"),
            until=_time(request, "until"),
            contender_id=number_parameter(request, "contender", minimum=1),
            category_id=category.pk if category else None,
            limit=number_parameter(request, "limit", minimum=1, maximum=1_000_000),
        )
        last_id, more = exports.last_id_of_page(selection)
        response = StreamingHttpResponse(
            exports.votes_export(selection=selection, export_format=chosen),
            content_type=exports.CONTENT_TYPES[chosen],
        )
        patch_vary_headers(response, ("Accept",))
        extension = {"jsonl": "jsonl", "csv": "csv", "clean_battle": "json"}[chosen]
        response["Content-Disposition"] = f'attachment; filename="votes.{extension}"'
        next_page_linked(response, request, last_id=last_id, more=more)
        return response


class StaffRefresh(APIView):
    """Staff: queue a refresh of every leaderboard now (it also runs every minute and after votes)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=None, responses={202: RefreshQueuedSerializer})
    def post(self, request: Request) -> Response:
        from ratings.tasks import ratings_refresh_task

        queued = stores.call(
            stores.BROKER,
            "queue a ratings refresh",
            lambda: bool(ratings_refresh_task.delay(categories=True)),
            fallback=lambda: False,
        )
        if not queued:
            raise ApiError(
                503,
                "broker_unavailable",
                _(
                    "the task broker cannot be reached: the refresh runs when it is back "
                    "(beat runs one every minute)"
                ),
                retry_after=5,
            )
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)
