import tempfile
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_language(accept_language: str) -> str:
    """The API's language for an Accept-Language header: Simplified Chinese for zh, zh-CN, zh-SG and
    zh-Hans (with any region), English for English and for every language we do not speak."""
    ranges = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _separator, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _equals, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranges.append((-quality, position, tag.strip().lower()))
    for _quality, _position, tag in sorted(ranges):
        subtags = tag.split("-")
        if subtags[0] == "zh" and (len(subtags) == 1 or subtags[1] in {"hans", "cn", "sg", "my"}):
            return "zh-hans"
        if subtags[0] == "en":
            return "en"
    return "en"


class CookieLanguageMiddleware:
    """The site speaks Chinese unless the visitor chose another language (kept in a cookie); the API
    follows the client's Accept-Language, English by default.

    Django's LocaleMiddleware would follow the browser's Accept-Language on the site too; our voters mostly
    read Chinese on devices set to other languages, so the arena starts in Chinese and remembers a choice.
    API clients are programs: they get the language they ask for, and English when they ask for none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            language = api_language(request.headers.get("Accept-Language", ""))
            varies_with = "Accept-Language"
        else:
            chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
            language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
            varies_with = "Cookie"
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, (varies_with,))
        translation.deactivate()
        return response


# A body sent without Content-Length is read into memory up to this size, then into a temporary file.
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
_READ_CHUNK_BYTES = 64 * 1024


class RequestBodyLimitMiddleware:
    """413 for a request body over its limit, before the view (or CSRF's form check) reads any of it.

    The limit is ARENA_REQUEST_MAX_BYTES unless the view names another setting in its
    `request_body_limit_setting` attribute (the staff bank upload does). A Content-Length over the limit is
    refused without reading the body. A body sent without one (chunked, which a server such as gunicorn
    passes on de-chunked with `wsgi.input_terminated`) is read up to the limit into a spooled temporary
    file and refused as soon as it passes it; below it, the request goes on with the spooled body and its
    now known length (Django would otherwise see an empty body).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            spooled = getattr(request, "_arena_spooled_body", None)
            if spooled is not None:
                spooled.close()

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        setting = getattr(getattr(view, "view_class", None), "request_body_limit_setting", None)
        limit = int(getattr(settings, setting or "ARENA_REQUEST_MAX_BYTES"))
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            if declared.isascii() and declared.strip().isdigit() and int(declared) > limit:
                return content_too_large(request, limit_bytes=limit, setting=setting)
            return None
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        # Without wsgi.input_terminated the server does not end the stream at the body's end: Django
        # reads such a body as empty, as it always has.
        terminated = bool(request.META.get("wsgi.input_terminated"))
        if chunked and terminated and not _spool_unsized_body(request, limit_bytes=limit):
            return content_too_large(request, limit_bytes=limit, setting=setting)
        return None


def _spool_unsized_body(request: HttpRequest, *, limit_bytes: int) -> bool:
    """Read a body of unknown length into a spooled file; False (and nothing kept) once it passes the
    limit, without reading the rest."""
    source = request.META["wsgi.input"]
    # Closed here when refused, else by the middleware once the response is made.
    spooled = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    size = 0
    while True:
        chunk = source.read(min(_READ_CHUNK_BYTES, limit_bytes + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        if size > limit_bytes:
            spooled.close()
            return False
        spooled.write(chunk)
    spooled.seek(0)
    # Django reads a request's body through _stream, bounded by CONTENT_LENGTH; both now describe the
    # spooled copy (Django's own `body` property swaps _stream the same way).
    request.META["CONTENT_LENGTH"] = str(size)
    request._stream = LimitedStream(spooled, size)  # type: ignore[assignment,arg-type]
    request._arena_spooled_body = spooled  # type: ignore[attr-defined]
    return True


def content_too_large(request: HttpRequest, *, limit_bytes: int, setting: str | None = None) -> HttpResponse:
    """413: the API's error body under /api/, the site's page elsewhere."""
    if is_api_request(request):
        message = _("the request body is larger than the %(limit)s bytes accepted here (%(setting)s)") % {
            "limit": limit_bytes,
            "setting": setting or "ARENA_REQUEST_MAX_BYTES",
        }
        error = {"status": 413, "code": "content_too_large", "message": message, "fields": {}}
        return JsonResponse({"error": error}, status=413)
    return render(request, "413.html", {"limit_bytes": limit_bytes}, status=413)
