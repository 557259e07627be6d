"""The staff admin: Django's admin site, branded as Arena.

`arena.apps.ArenaAdminConfig` makes this the default site, so `admin.site` (and every
`@admin.register`) is this site, served at /admin/ by arena/urls.py.
"""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver
from django.utils.translation import gettext_lazy as _


class ArenaAdminSite(admin.AdminSite):
    site_header = _("Arena administration")
    site_title = _("Arena admin")
    index_title = _("Arena administration")
    # The list of every model beside every page leaves a list with filters some 600 pixels on a
    # 1280-pixel screen: the lists get the width (the index lists the models).
    enable_nav_sidebar = False

    def get_urls(self) -> list[URLPattern | URLResolver]:
        """The site's own pages, then the models' pages.

        A staff page of its own (a dashboard, say) goes in `pages`, wrapped in `self.admin_view`
        so that only staff reach it, and named so that `reverse("admin:<name>")` finds it:

            path("dashboard/", self.admin_view(DashboardView.as_view()), name="dashboard"),

        It must come before the models' pages: their last pattern takes any `<app_label>/` path.
        """
        pages: list[URLPattern | URLResolver] = []
        return [*pages, *super().get_urls()]


class RecordAdmin(admin.ModelAdmin):
    """Rows the arena writes itself (answers, battles, votes, snapshots, reports of its processes):
    staff look at them, never add or edit them. Deleting stays as each model's admin allows."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
