from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found, server_error

from arena.middleware import is_api_request


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    error = {"status": status, "code": code, "message": message, "fields": {}}
    return JsonResponse({"error": error}, status=status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: the API's error body under /api/, the site's page elsewhere."""
    if is_api_request(request):
        return _api_error(404, "not_found", _("no such resource: %(path)s") % {"path": request.path})
    return page_not_found(request, exception)


def failed(request: HttpRequest) -> HttpResponse:
    """500: the API's error body under /api/ (the error itself is logged), the site's page elsewhere."""
    if is_api_request(request):
        return _api_error(
            500, "server_error", _("the server failed to answer this request; the error has been logged")
        )
    return server_error(request)
