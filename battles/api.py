"""REST API of the battles app: public reads, voting for other front ends, staff operations."""

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena import stores
from arena.api import LARGEST_ID, VOTER_HEADER, ApiError, IdCursorPagination, text_parameter, whole_number
from arena.api_views import CountedAlong
from arena.cache import windows_count_settle
from battles import selectors
from battles.importers.records import ImportRejected
from battles.models import Battle, Contender, Question, Voter
from battles.serializers import (
    BankImportReportSerializer,
    BankImportRequestSerializer,
    NextBattleSerializer,
    PublicContenderSerializer,
    QuestionSerializer,
    StaffContenderSerializer,
    VotedBattleSerializer,
    VoteRequestSerializer,
    VoteResultSerializer,
    next_battle_body,
    vote_request_validated,
    vote_result_body,
)
from battles.services.bank import bank_import_paths
from battles.services.contenders import (
    contender_create,
    contender_pause,
    contender_resume,
    contender_update,
)
from battles.services.health import contender_server_slots
from battles.services.proof_of_work import vote_puzzle
from battles.services.serving import battle_serve, voter_with_holds
from battles.services.voting import (
    VoteRejected,
    ip_hash_of,
    vote_record,
    voter_get_or_create,
    voter_known,
    voter_seen,
)
from battles.views import client_ip

_VOTER_TOKEN_SALT = "arena.api-voter"  # noqa: S105 (a signing namespace, not a secret)
_PREPARING_RETRY_SECONDS = 2

voter_header = OpenApiParameter(
    VOTER_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The voter token from POST /api/v1/battles/next/ (a new anonymous voter when absent).",
)


def _error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=OpenApiTypes.OBJECT, description=description)


class ContenderList(generics.ListAPIView[Contender]):
    """Contenders, by name: public fields only."""

    serializer_class = PublicContenderSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Contender]:
        return Contender.objects.order_by("name")


class ContenderDetail(generics.RetrieveAPIView[Contender]):
    serializer_class = PublicContenderSerializer
    queryset = Contender.objects.all()


@extend_schema(
    parameters=[
        OpenApiParameter("category", OpenApiTypes.STR, description="A category code."),
        OpenApiParameter("language", OpenApiTypes.STR, description="A language code, e.g. zh or en."),
    ]
)
class QuestionList(generics.ListAPIView[Question]):
    """Active questions of the bank."""

    serializer_class = QuestionSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self) -> QuerySet[Question]:
        questions = Question.objects.filter(is_active=True).select_related("category")
        if category := text_parameter(self.request, "category"):
            questions = questions.filter(category__code=category)
        if language := text_parameter(self.request, "language"):
            questions = questions.filter(language=language)
        return questions


@extend_schema(
    parameters=[
        OpenApiParameter(
            "contender",
            {"type": "integer", "minimum": 1, "maximum": LARGEST_ID},
            description="Only battles of this contender.",
        ),
        OpenApiParameter("category", OpenApiTypes.STR, description="A category code."),
    ]
)
class VotedBattleList(generics.ListAPIView[Battle]):
    """Battles that have been voted on, newest first: never one still open for voting. The answers'
    texts are given to staff only (or to all with ARENA_API_PUBLIC_ANSWERS): published next to the
    models' names, they would be recognised in later battles."""

    serializer_class = VotedBattleSerializer
    pagination_class = IdCursorPagination

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "answers_shown": _answers_shown(self.request)}

    def get_queryset(self) -> QuerySet[Battle]:
        battles = _public_battles()
        contender = text_parameter(self.request, "contender")
        if contender is not None:  # an empty one is refused, as every other whole-number parameter
            if not whole_number(contender) or not 1 <= int(contender) <= LARGEST_ID:
                raise ApiError(400, "invalid", _("contender must be a contender id"))
            battles = battles.filter(Q(contender_a_id=contender) | Q(contender_b_id=contender))
        if category := text_parameter(self.request, "category"):
            battles = battles.filter(question__category__code=category)
        return battles


class VotedBattleDetail(generics.RetrieveAPIView[Battle]):
    """A voted battle; its answers' texts for staff only (see the list)."""

    serializer_class = VotedBattleSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "answers_shown": _answers_shown(self.request)}

    def get_queryset(self) -> QuerySet[Battle]:
        return _public_battles()


def _answers_shown(request: Request) -> bool:
    user = request.user
    return settings.ARENA_API_PUBLIC_ANSWERS or bool(user and user.is_authenticated and user.is_staff)


def _public_battles() -> QuerySet[Battle]:
    if not settings.ARENA_API_PUBLIC_BATTLES:
        raise ApiError(
            404, "not_found", _("this arena does not publish its battles (ARENA_API_PUBLIC_BATTLES)")
        )
    return selectors.battles_voted()


def _voter_id_from_token(request: Request) -> uuid.UUID | None:
    """The voter id the token was signed for (None without a token); whether that voter still exists
    is for the caller to find out."""
    token = request.headers.get(VOTER_HEADER)
    if not token:
        return None
    try:
        return uuid.UUID(signing.Signer(salt=_VOTER_TOKEN_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        raise ApiError(
            403,
            "invalid_voter_token",
            _("the %(header)s header is not a voter token") % {"header": VOTER_HEADER},
        ) from None


def _no_such_voter() -> ApiError:
    return ApiError(403, "invalid_voter_token", _("this voter token belongs to no voter"))


def _voter_token(voter: Voter) -> str:
    return signing.Signer(salt=_VOTER_TOKEN_SALT).sign(str(voter.pk))


class NextBattle(CountedAlong):
    """The battle for this voter (the one already served, or a new one), as on the battle page.

    Without a voter token a new anonymous voter is made: keep the returned token and send it as the
    X-Arena-Voter header. The names stay hidden until the vote. When no battle is ready yet, the
    status is "preparing": ask again after retry_after_seconds.

    A battle is held for the voter until they vote or ARENA_BATTLE_HOLD_SECONDS pass. New battles
    and new voters are limited per address and per voter, and an address holds at most
    ARENA_HELD_BATTLES_PER_IP battles not voted on: over a limit the answer is 429 with Retry-After.

    With a proof of work required (pow_bits above 0, ARENA_VOTE_POW_BITS), the vote on this battle
    must carry a solution of pow_challenge: a counter, in decimal digits, such that SHA-256 of
    "{pow_challenge}:{counter}" (UTF-8) starts with at least pow_bits zero bits.
    """

    @extend_schema(
        parameters=[voter_header],
        request=None,
        responses={
            200: NextBattleSerializer,
            403: _error_response("The voter token is not one this API gave out."),
            429: _error_response(
                "Over a limit on new battles or new voters (serve_voter_rate, serve_ip_rate, held_ip_cap, "
                "new_voter_ip_rate); see Retry-After."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        ip_hash = ip_hash_of(client_ip(request))
        voter_id = _voter_id_from_token(request)
        held: list[Battle]
        # Over a limit, ServeLimited is answered by the API's exception handler: 429 with Retry-After.
        if voter_id is None:
            # The throttle first: a new voter is a row, not to be made for a refused request.
            stores.call(stores.CACHE, "API throttle", windows_count_settle, fallback=lambda: None)
            voter, held = voter_get_or_create(voter_id=None, ip_hash=ip_hash), []
        else:
            # The voter and what they hold, in one query.
            found = voter_with_holds(voter_id=voter_id)
            if found is None:
                raise _no_such_voter()
            voter, held = found
            voter_seen(voter, now=timezone.now())
        battle = battle_serve(voter=voter, ip_hash=ip_hash, held=held)
        challenge = vote_puzzle(battle_id=battle.pk, voter_id=voter.pk)[0] if battle else None
        response = Response(
            next_battle_body(
                voter_token=_voter_token(voter),
                battle=battle,
                retry_after_seconds=None if battle else _PREPARING_RETRY_SECONDS,
                pow_challenge=challenge,
                pow_bits=settings.ARENA_VOTE_POW_BITS,
            )
        )
        if battle is None:
            response["Retry-After"] = str(_PREPARING_RETRY_SECONDS)
        return response


class CastVote(CountedAlong):
    """Vote on a battle served to this voter, with exactly the web page's rules: one vote per battle, not
    sooner than the minimum time, within the rate limits, with the battle's proof of work when one is
    required (`pow`, see POST battles/next/). Retrying is safe: a repeat answers 200 with the first vote
    unchanged, its reason included."""

    @extend_schema(
        parameters=[voter_header],
        request=VoteRequestSerializer,
        responses={
            201: VoteResultSerializer,
            200: OpenApiResponse(
                VoteResultSerializer,
                description="Already voted: the first vote, unchanged (a reason sent again is not kept).",
            ),
            400: _error_response(
                "Invalid verdict, a reason that is not text or is too long, or a proof of work required "
                "and missing or wrong (proof_missing)."
            ),
            403: _error_response("No voter token, or the battle was not served to this voter."),
            409: _error_response("Too early, the battle is no longer open, or its hold ran out."),
            429: _error_response("Over a rate limit; see Retry-After."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        voter_id = _voter_id_from_token(request)
        if voter_id is None:
            raise ApiError(
                403,
                "voter_token_missing",
                _("send the voter token as the %(header)s header") % {"header": VOTER_HEADER},
            )
        body = vote_request_validated(request.data)
        # Only the voter's id is needed: that the voter exists is checked when the vote is not recorded.
        voter = voter_known(voter_id=voter_id)
        try:
            recorded = vote_record(
                battle_id=pk,
                voter=voter,
                outcome=body["outcome"],
                ip_hash=ip_hash_of(client_ip(request)),
                reason=body.get("reason", ""),
                proof=body.get("pow", ""),
            )
        except VoteRejected as rejection:
            if rejection.code == "unknown_voter":
                raise _no_such_voter() from None
            raise  # answered by the API's exception handler (arena/errors.py has the statuses)
        # A repeat (a retry, a second click) returns the first vote as it stands: its reason too.
        return Response(
            vote_result_body(recorded.vote),
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class StaffContenderList(generics.ListCreateAPIView[Contender]):
    """Staff: all contenders with their settings; register a new one."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = StaffContenderSerializer
    pagination_class = None
    queryset = Contender.objects.order_by("name")

    def perform_create(self, serializer: StaffContenderSerializer) -> None:  # type: ignore[override]
        contender = serializer.instance = _contender_write(
            lambda: contender_create(**serializer.validated_data)
        )
        # What its server reports it runs at once; the limit follows it unless one was given.
        contender_server_slots(
            contender=contender, follow="max_concurrent_requests" not in serializer.initial_data
        )


class StaffContenderDetail(generics.RetrieveUpdateAPIView[Contender]):
    """Staff: read or change a contender's settings (PATCH for a partial change)."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = StaffContenderSerializer
    queryset = Contender.objects.all()
    http_method_names = ["get", "patch", "head", "options"]  # no PUT: a change names what it changes

    def perform_update(self, serializer: StaffContenderSerializer) -> None:  # type: ignore[override]
        contender = serializer.instance
        assert contender is not None
        serializer.instance = _contender_write(
            lambda: contender_update(contender, **serializer.validated_data)
        )


def _contender_write(write: Callable[[], Contender]) -> Contender:
    """The contender service's write; what it finds invalid (the serializer has checked already, so
    only a change made meanwhile, such as the name taken) is a 400 with the fields, as the serializer's."""
    try:
        return write()
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from error


class _StaffContenderSwitch(APIView):
    permission_classes = [permissions.IsAdminUser]
    is_active = True

    @extend_schema(request=None, responses={200: StaffContenderSerializer})
    def post(self, request: Request, pk: int) -> Response:
        contender = generics.get_object_or_404(Contender.objects.all(), pk=pk)
        if self.is_active:
            contender_resume(contender_id=contender.pk)
        else:
            contender_pause(contender_id=contender.pk)
        contender.refresh_from_db()
        return Response(StaffContenderSerializer(contender).data)


class StaffContenderPause(_StaffContenderSwitch):
    """Staff: take a contender out of new battles."""

    is_active = False


class StaffContenderResume(_StaffContenderSwitch):
    """Staff: bring a contender back into battles (also clearing a pause after failures)."""

    is_active = True


class StaffBankImport(APIView):
    """Staff: import a question bank file, as `manage.py import_bank` does (all or nothing).

    The upload may be up to ARENA_BANK_UPLOAD_MAX_BYTES (a larger one is refused with 413 before the
    import starts) and is streamed to a temporary file, never held in memory whole."""

    permission_classes = [permissions.IsAdminUser]
    parser_classes = [MultiPartParser]
    # Read by arena.middleware.RequestBodyLimitMiddleware instead of ARENA_REQUEST_MAX_BYTES.
    request_body_limit_setting = "ARENA_BANK_UPLOAD_MAX_BYTES"

    @extend_schema(
        request={"multipart/form-data": BankImportRequestSerializer},
        responses={
            200: BankImportReportSerializer,
            400: _error_response("The file was rejected: where and why."),
            413: _error_response("The upload is larger than ARENA_BANK_UPLOAD_MAX_BYTES."),
        },
    )
    def post(self, request: Request) -> Response:
        # Every upload goes to a temporary file as it arrives, whatever its size (Django keeps small
        # ones in memory by default); set before the body is parsed.
        request._request.upload_handlers = [TemporaryFileUploadHandler(request._request)]
        body = BankImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        suffix = Path(upload.name or "").suffix.lower()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            with path.open("wb") as stored:
                for chunk in upload.chunks():
                    stored.write(chunk)
            try:
                [report] = bank_import_paths(paths=[path], dry_run=body.validated_data["dry_run"])
            except ImportRejected as rejection:
                message = str(rejection).replace(str(path), upload.name or "upload")
                raise ApiError(400, "import_rejected", message) from None
        data: dict[str, Any] = {
            name: getattr(report, name)
            for name in (
                "questions_created",
                "questions_existing",
                "categories_created",
                "contenders_created",
            )
        }
        data |= {"answers_created": report.answers_created, "answers_existing": report.answers_existing}
        data |= {"notices": report.notices, "dry_run": body.validated_data["dry_run"]}
        return Response(BankImportReportSerializer(data).data)
