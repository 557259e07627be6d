"""The REST API, under /api/v1/."""

from django.urls import path

from battles import api as battles_api
from judges import api as judges_api
from ratings import api as ratings_api

urlpatterns = [
    path("leaderboard/", ratings_api.Leaderboard.as_view(), name="leaderboard"),
    path("leaderboard/matrices/", ratings_api.Matrices.as_view(), name="matrices"),
    path("snapshots/", ratings_api.SnapshotList.as_view(), name="snapshots"),
    path("snapshots/<int:pk>/", ratings_api.SnapshotDetail.as_view(), name="snapshot"),
    path("contenders/", battles_api.ContenderList.as_view(), name="contenders"),
    path("contenders/<int:pk>/", battles_api.ContenderDetail.as_view(), name="contender"),
    path("questions/", battles_api.QuestionList.as_view(), name="questions"),
    path("battles/", battles_api.VotedBattleList.as_view(), name="battles"),
    path("battles/next/", battles_api.NextBattle.as_view(), name="battle-next"),
    path("battles/<int:pk>/", battles_api.VotedBattleDetail.as_view(), name="battle"),
    path("battles/<int:pk>/vote/", battles_api.CastVote.as_view(), name="battle-vote"),
    path("votes/export/", ratings_api.VotesExport.as_view(), name="votes-export"),
    path("verdicts/export/", judges_api.VerdictsExport.as_view(), name="verdicts-export"),
    path("staff/contenders/", battles_api.StaffContenderList.as_view(), name="staff-contenders"),
    path("staff/contenders/<int:pk>/", battles_api.StaffContenderDetail.as_view(), name="staff-contender"),
    path(
        "staff/contenders/<int:pk>/pause/",
        battles_api.StaffContenderPause.as_view(),
        name="staff-contender-pause",
    ),
    path(
        "staff/contenders/<int:pk>/resume/",
        battles_api.StaffContenderResume.as_view(),
        name="staff-contender-resume",
    ),
    path("staff/questions/import/", battles_api.StaffBankImport.as_view(), name="staff-bank-import"),
    path("staff/ratings/refresh/", ratings_api.StaffRefresh.as_view(), name="staff-refresh"),
]
