"""What the REST API shares: one error shape, signed cursor pagination, conditional GETs."""

import time
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, quote_etag
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, status, throttling
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from arena import stores
from arena.cache import windows_count, windows_count_along
from arena.errors import DomainError

_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "content_too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


class ApiError(exceptions.APIException):
    """An error with our own code, e.g. ApiError(409, "too_early", "read both answers first")."""

    def __init__(self, status_code: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.retry_after = retry_after


def exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    """Every error body is {"error": {"status", "code", "message", "fields"}}."""
    if isinstance(error, DomainError):
        # A service's refusal: the one map of codes to statuses (arena/errors.py), its own message.
        error = ApiError(error.http_status, error.code, error.shown_message(), retry_after=error.retry_after)
    elif isinstance(error, Http404):
        error = exceptions.NotFound(str(error) or _("not found"))
    elif isinstance(error, RequestDataTooBig):
        # The middleware refuses bodies over their limit; this is Django's own limit on the form fields
        # of a multipart body (DATA_UPLOAD_MAX_MEMORY_SIZE).
        error = ApiError(
            413,
            "content_too_large",
            _("the form fields of the request are larger than the %(limit)s bytes accepted (%(setting)s)")
            % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "setting": "ARENA_REQUEST_MAX_BYTES"},
        )
    elif isinstance(error, SuspiciousOperation):  # too many fields or files, a malformed multipart body
        error = ApiError(400, "invalid", str(error))
    response = drf_exception_handler(error, context)
    if response is None:
        return None
    fields: dict[str, Any] = {}
    detail = getattr(error, "detail", None)
    code = getattr(error, "default_code", None) or _CODES.get(response.status_code, "error")
    if isinstance(error, ApiError):
        code = str(error.get_codes())
        if error.retry_after is not None:
            response["Retry-After"] = str(error.retry_after)
    if isinstance(error, exceptions.ValidationError) and isinstance(detail, dict):
        fields = {name: [str(message) for message in messages] for name, messages in detail.items()}
        message = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
    elif isinstance(detail, list):
        message = " ".join(str(item) for item in detail)
    else:
        message = str(detail if detail is not None else error)
    response.data = {
        "error": {"status": response.status_code, "code": code, "message": message, "fields": fields}
    }
    return response


class IdCursorPagination(pagination.CursorPagination):
    """Stable pages however many rows arrive meanwhile: the cursor names the last row seen.

    Cursors are signed for their list and ordering, so any cursor this API did not give out for this
    list (garbage, bad base64, a tampered or hand-made one, one of another list) gets one answer: 400
    invalid_cursor, before the database is asked anything.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "The cursor of the next or previous link of a page of this list."
        return parameters

    def _signer(self, request: Request) -> signing.Signer:
        view_name = getattr(request.resolver_match, "view_name", "") or request.path
        return signing.Signer(salt=f"arena.cursor:{view_name}:{','.join(self.ordering)}")

    def encode_cursor(self, cursor: pagination.Cursor) -> str:
        tokens = {"o": cursor.offset, "r": int(cursor.reverse), "p": cursor.position}
        encoded = self._signer(self.request).sign_object(tokens)  # type: ignore[attr-defined]
        return replace_query_param(str(self.base_url), self.cursor_query_param, encoded)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        encoded = text_parameter(request, self.cursor_query_param)
        if not encoded:  # absent, or empty as other empty parameters: the first page
            return None
        try:
            tokens = self._signer(request).unsign_object(encoded)
        except (signing.BadSignature, ValueError, TypeError):
            tokens = None
        if not (isinstance(tokens, dict) and set(tokens) == {"o", "r", "p"}):
            raise _invalid_cursor()
        offset, reverse, position = tokens["o"], tokens["r"], tokens["p"]
        # Signed by us, so always well formed; checked all the same, since a position reaches the database.
        if not (
            type(offset) is int
            and 0 <= offset <= self.offset_cutoff
            and reverse in (0, 1)
            and type(reverse) is int
            and (position is None or (isinstance(position, str) and _id_text(position)))
        ):
            raise _invalid_cursor()
        return pagination.Cursor(offset=offset, reverse=bool(reverse), position=position)  # type: ignore[arg-type]

    def get_page_size(self, request: Request) -> int:
        raw = text_parameter(request, self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not whole_number(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ApiError(
                400,
                "invalid",
                _("page_size must be a whole number from 1 to %(maximum)s") % {"maximum": self.max_page_size},
            )
        return int(raw)


def _invalid_cursor() -> ApiError:
    return ApiError(
        400,
        "invalid_cursor",
        _("cursor is not one this list gave out: follow the next or previous link of a page"),
    )


def _id_text(raw: str) -> bool:
    return whole_number(raw) and 1 <= int(raw) <= LARGEST_ID


def not_modified_or(request: Request, *, etag: str, last_modified: float | None, build: Any) -> HttpResponse:
    """A conditional GET: 304 when the client's copy is current (If-None-Match, weak or strong, one
    tag or a list; else If-Modified-Since), otherwise the response `build()` makes, stamped with its
    ETag and Last-Modified (when it has a time) so the next poll is cheap."""
    quoted = quote_etag(etag)
    response = get_conditional_response(
        request._request, etag=quoted, last_modified=None if last_modified is None else int(last_modified)
    )
    if response is None:
        response = build()
    response["ETag"] = quoted
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = "public, max-age=0, must-revalidate"
    return response


class AnonymousThrottle(throttling.AnonRateThrottle):
    """The anonymous rate per client address, taken as the voting pages take it: X-Forwarded-For
    only behind a trusted proxy (ARENA_TRUST_X_FORWARDED_FOR), never from the client alone.

    Counted in fixed windows (one Redis round trip, a counter), not DRF's sliding history (a list of
    every request's time, read and written whole on each request). Without Redis it lets requests
    through, counted as an outage (arena/stores.py)."""

    def get_ident(self, request: Request) -> str:
        from battles.views import client_ip

        return client_ip(request._request)

    def allow_request(self, request: Request, view: Any) -> bool:
        key = None if self.rate is None else self.get_cache_key(request, view)
        if key is None:
            return True
        allowed, period = self.parse_rate(self.rate)
        window = max(1, int(period or 60))
        now = time.time()
        slot_key = f"{key}:{int(now) // window}"
        self._wait_seconds = window - now % window
        if getattr(view, "throttle_counted_along", False):
            # Counted in the view's own first round trip to Redis (or at its end): see
            # arena.api_views.CountedAlong.
            def counted(count: int) -> None:
                if allowed is not None and count > allowed:
                    raise exceptions.Throttled(wait=self._wait_seconds)

            windows_count_along(slot_key, window, counted)
            return True
        count = stores.call(
            stores.CACHE, "API throttle", lambda: windows_count([(slot_key, window)])[0], fallback=lambda: 0
        )
        return allowed is None or count <= allowed

    def wait(self) -> float | None:
        return getattr(self, "_wait_seconds", None)


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["status", "code", "message", "fields"],
        }
    },
    "required": ["error"],
}
_ERRORS = {
    "400": "The request is malformed: the message says what and where.",
    "401": "No staff token (Authorization: Token ...).",
    "403": "Not allowed: not staff; or, voting, a missing or wrong voter token, or someone else's battle.",
    "404": "No such object, category or snapshot.",
    "413": "The request body is larger than ARENA_REQUEST_MAX_BYTES.",
    "429": "Too many requests (see Retry-After).",
}


def schema_with_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular hook: every operation documents the error body and the statuses it may answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                value = parameter.get("schema", {})
                if value.get("type") == "string" and not {"enum", "format", "pattern"} & set(value):
                    value["pattern"] = NO_NUL_PATTERN  # text_parameter refuses a NUL character
            responses = operation.setdefault("responses", {})
            statuses = ["400", "403", "404", "413", "429"] + (["401"] if "/staff/" in path else [])
            for status_code in statuses:
                responses.setdefault(status_code, {"description": _ERRORS[status_code]})
            for status_code, documented in responses.items():
                if str(status_code).startswith("4"):
                    documented["content"] = {"application/json": {"schema": reference}}
    return result


VOTER_HEADER = "X-Arena-Voter"
_TAGS = [
    {"name": "results", "description": "The leaderboards, their history and the data behind them. Public."},
    {
        "name": "voting",
        "description": (
            "Voting from another front end, with the web page's rules. Without a voter token a new "
            "anonymous voter is made; keep the token returned and send it in the X-Arena-Voter header."
        ),
    },
    {"name": "staff", "description": "Contenders, questions and refreshes. A staff user's token."},
]


def schema_tags_and_credentials(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular hook: the operations grouped by what they are for, each with the credentials it
    takes — none for the results (no padlock), the voter token (optional) for voting, a staff token for
    staff — and the voter token a security scheme the docs' Authorize dialog can hold."""
    result["tags"] = _TAGS
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["voterToken"] = {
        "type": "apiKey",
        "in": "header",
        "name": VOTER_HEADER,
        "description": (
            "The voter token POST /api/v1/battles/next/ returns (a new anonymous voter when absent)."
        ),
    }
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            voter = [p for p in parameters if p.get("in") == "header" and p.get("name") == VOTER_HEADER]
            if "/staff/" in path:
                operation["tags"] = ["staff"]
                operation["security"] = [scheme for scheme in operation.get("security", []) if scheme]
            elif voter:
                operation["tags"] = ["voting"]
                operation["security"] = [{"voterToken": []}, {}]
                operation["parameters"] = [p for p in parameters if p not in voter]
            else:
                operation["tags"] = ["results"]
                operation["security"] = []
    return result


LARGEST_ID = 2**63 - 1  # PostgreSQL's bigint
NO_NUL_PATTERN = "^[^\\u0000]*$"


def whole_number(raw: str) -> bool:
    """Digits 0-9 only (str.isdigit also accepts "²", which int() refuses)."""
    return raw.isascii() and raw.isdigit()


def text_parameter(request: Request, name: str) -> str | None:
    """A query parameter, given at most once; one holding a NUL character (which no database text
    can hold) is refused."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(
            400, "invalid", _("%(name)s is given %(count)s times") % {"name": name, "count": len(values)}
        )
    if values and "\x00" in values[0]:
        raise ApiError(400, "invalid", _("%(name)s holds a NUL character") % {"name": name})
    return values[0] if values else None


def number_parameter(request: Request, name: str, *, minimum: int, maximum: int = LARGEST_ID) -> int | None:
    """A whole-number query parameter within [minimum, maximum] (400 otherwise); None when absent."""
    raw = text_parameter(request, name)
    if raw is None:
        return None
    if not whole_number(raw) or not minimum <= int(raw) <= maximum:
        raise ApiError(
            400,
            "invalid",
            _("%(name)s must be a whole number from %(minimum)s to %(maximum)s")
            % {"name": name, "minimum": minimum, "maximum": maximum},
        )
    return int(raw)
