from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


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
