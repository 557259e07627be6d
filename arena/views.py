import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found, server_error

from arena.availability import DATABASE_ERRORS, database_unavailable


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: the API's error body under /api/, the site's page elsewhere."""
    if request.path.startswith("/api/"):
        error = {
            "status": 404,
            "code": "not_found",
            "message": f"no such resource: {request.path}",
            "fields": {},
        }
        return JsonResponse({"error": error}, status=404)
    return page_not_found(request, exception)


def failed(request: HttpRequest) -> HttpResponse:
    """500: the API's error body under /api/ (the error itself is logged), the site's page elsewhere.
    A lost database connection outside a view (in a middleware, say) is a 503, as in a view."""
    raised = sys.exc_info()[1]
    if isinstance(raised, DATABASE_ERRORS):
        return database_unavailable(request, raised)
    if request.path.startswith("/api/"):
        error = {
            "status": 500,
            "code": "server_error",
            "message": "the server failed to answer this request; the error has been logged",
            "fields": {},
        }
        return JsonResponse({"error": error}, status=500)
    return server_error(request)
