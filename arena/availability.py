"""PostgreSQL going away answers 503 with Retry-After, never 500: the API's error body under /api/,
a page that says to try again elsewhere. The request changed nothing that was not committed, and
retrying it is safe (a vote POSTed twice is counted once)."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger("arena.availability")

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, error)
    if request.path.startswith("/api/"):
        body = {
            "error": {
                "status": 503,
                "code": "database_unavailable",
                "message": f"the database cannot be reached; try again in {RETRY_AFTER_SECONDS} seconds "
                "(retrying is safe: a vote is counted once)",
                "fields": {},
            }
        }
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        # Rendered without the database or the session: a plain, self-contained page.
        page = render_to_string(
            "503.html", {"retry_after": RETRY_AFTER_SECONDS, "reload": request.method == "GET"}
        )
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection in a view into a 503 (see handler500 for the rest)."""

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable(request, exception)
        return None
