from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ratings.selectors import leaderboard_latest


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    return render(request, "ratings/leaderboard.html", {"leaderboard": leaderboard_latest()})
