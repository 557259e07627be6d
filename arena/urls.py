from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard.metrics import metrics
from dashboard.views import contender_action, dashboard, integrity, integrity_action

handler400 = "arena.views.invalid"
handler403 = "arena.views.forbidden"
handler404 = "arena.views.not_found"
handler500 = "arena.views.failed"

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),
    path("admin/dashboard/integrity/", admin.site.admin_view(integrity), name="dashboard-integrity"),
    path(
        "admin/dashboard/integrity/action/",
        admin.site.admin_view(integrity_action),
        name="dashboard-integrity-action",
    ),
    path(
        "admin/dashboard/contenders/<int:contender_id>/<str:action>/",
        admin.site.admin_view(contender_action),
        name="dashboard-contender-action",
    ),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("arena.api_urls", "api"))),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("leaderboard/", include("ratings.urls")),
    path("browse/", include("battles.browse_urls")),
    path("", include("battles.urls")),
]
