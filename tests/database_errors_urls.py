"""Views that lose their database connection, as a view does when PostgreSQL goes away mid-request."""

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def lost_connection(request: HttpRequest) -> HttpResponse:
    raise OperationalError("server closed the connection unexpectedly")


handler500 = "arena.views.failed"

urlpatterns = [
    path("api/v1/lost/", lost_connection),
    path("lost/", lost_connection),
    path("", include("arena.urls")),
]
