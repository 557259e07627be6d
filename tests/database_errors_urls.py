"""Views that fail: lose their database connection, as a view does when PostgreSQL goes away
mid-request, or hit a bug (an exception nobody expected), in the API and in the site."""

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def lost_connection(request: HttpRequest) -> HttpResponse:
    raise OperationalError("server closed the connection unexpectedly")


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


class BrokenApiView(APIView):
    permission_classes: list[type] = []

    def get(self, request: Request) -> Response:
        raise RuntimeError("boom")


handler500 = "arena.views.failed"

urlpatterns = [
    path("api/v1/lost/", lost_connection),
    path("lost/", lost_connection),
    path("api/v1/broken/", BrokenApiView.as_view()),
    path("broken/", broken),
    path("", include("arena.urls")),
]
