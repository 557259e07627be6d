"""The staff admin: Django's admin site, branded as Arena.

`arena.apps.ArenaAdminConfig` makes this the default site, so `admin.site` (and every
`@admin.register`) is this site, served at /admin/ by arena/urls.py.
"""

import math
from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from arena.services import login_attempt_start, login_attempt_succeeded


class LimitedLoginForm(AdminAuthenticationForm):
    """The admin's login form, limited against password guessing (arena.services.login_attempt_start):
    over the limit, an attempt is refused before its password is checked."""

    retry_after_seconds = 0

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # nothing to check: the missing field says so
        # The address as the voting pages take it (behind a trusted proxy, the one the proxy saw).
        from battles.services.voting import ip_hash_of
        from battles.views import client_ip

        address = client_ip(self.request) if self.request is not None else "unknown"
        started = login_attempt_start(username=username, address_hash=ip_hash_of(address))
        if started.attempt_id is None:
            self.retry_after_seconds = started.retry_after_seconds
            minutes = max(1, math.ceil(started.retry_after_seconds / 60))
            raise ValidationError(
                ngettext(
                    "Too many failed logins for this username or from this address. Try again in "
                    "%(minutes)s minute.",
                    "Too many failed logins for this username or from this address. Try again in "
                    "%(minutes)s minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="too_many_attempts",
            )
        cleaned = super().clean()  # checks the password: a failure stays counted
        login_attempt_succeeded(attempt_id=started.attempt_id)
        return cleaned


class ArenaAdminSite(admin.AdminSite):
    site_header = _("Arena administration")
    site_title = _("Arena admin")
    index_title = _("Arena administration")
    # The list of every model beside every page leaves a list with filters some 600 pixels on a
    # 1280-pixel screen: the lists get the width (the index lists the models).
    enable_nav_sidebar = False
    login_form = LimitedLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's login page; an attempt refused by the limit is answered 429, with Retry-After."""
        response = super().login(request, extra_context)
        form = (response.context_data or {}).get("form") if isinstance(response, TemplateResponse) else None
        if isinstance(form, LimitedLoginForm) and form.has_error(NON_FIELD_ERRORS, "too_many_attempts"):
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after_seconds)
        return response

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
