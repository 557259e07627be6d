import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from arena.availability import DATABASE_ERRORS, database_unavailable
from arena.middleware import is_api_request


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    error = {"status": status, "code": code, "message": message, "fields": {}}
    return JsonResponse({"error": error}, status=status)


def invalid(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 raised outside the API's views (a suspicious request: a host not served, too many form
    fields): the API's error body under /api/, Django's page elsewhere."""
    if is_api_request(request):
        return _api_error(400, "invalid", _("the request is malformed and was refused"))
    return bad_request(request, exception)


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return _api_error(403, "forbidden", _("this request is not allowed"))
    return permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: the API's error body under /api/, the site's page elsewhere."""
    if is_api_request(request):
        return _api_error(404, "not_found", _("no such resource: %(path)s") % {"path": request.path})
    return page_not_found(request, exception)


def failed(request: HttpRequest) -> HttpResponse:
    """500: the API's error body under /api/ (the error itself is logged), the site's page elsewhere.
    A lost database connection outside a view (in a middleware, say) is a 503, as in a view."""
    raised = sys.exc_info()[1]
    if isinstance(raised, DATABASE_ERRORS):
        return database_unavailable(request, raised)
    if is_api_request(request):
        return _api_error(
            500, "server_error", _("the server failed to answer this request; the error has been logged")
        )
    return server_error(request)
