"""What the processes report about themselves: shown to staff, never typed in (deleting old rows is
fine)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from arena.admin_site import RecordAdmin
from arena.models import LoginAttempt, PeriodicTaskRun, StoreOutage, WorkerHeartbeat


def _short_error(error: str) -> str:
    return Truncator(" ".join(error.split())).chars(80)


class OngoingFilter(admin.SimpleListFilter):
    title = _("ongoing")
    parameter_name = "ongoing"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoreOutage]) -> QuerySet[StoreOutage]:
        if self.value() in ("yes", "no"):
            return queryset.filter(ended_at__isnull=self.value() == "yes")
        return queryset


@admin.register(StoreOutage)
class StoreOutageAdmin(RecordAdmin):
    list_display = ["store", "started_at", "ended_at", "fallback_total", "short_error"]
    list_filter = ["store", OngoingFilter, ("started_at", admin.DateFieldListFilter)]
    search_fields = ["last_error"]
    search_help_text = _("Searches the last error.")
    ordering = ["-started_at"]
    readonly_fields = ["store", "started_at", "ended_at", "fallback_total", "fallbacks", "last_error"]

    @admin.display(description=_("last error"))
    def short_error(self, outage: StoreOutage) -> str:
        return _short_error(outage.last_error)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(RecordAdmin):
    list_display = [
        "name",
        "queues",
        "last_seen_at",
        "stopped_at",
        "started_at",
        "tasks_done",
        "broker_connected",
    ]
    list_filter = [
        "broker_connected",
        ("stopped_at", admin.EmptyFieldListFilter),
        "queues",
        ("last_seen_at", admin.DateFieldListFilter),
    ]
    search_fields = ["name"]
    search_help_text = _("Searches the worker's name (its host and process).")
    ordering = ["name"]
    readonly_fields = [
        *[
            "name",
            "pid",
            "queues",
            "started_at",
            "last_seen_at",
            "stopped_at",
            "tasks_done",
            "broker_connected",
        ],
    ]


class FailingFilter(admin.SimpleListFilter):
    title = _("last run failed")
    parameter_name = "failed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTaskRun]
    ) -> QuerySet[PeriodicTaskRun]:
        if self.value() == "yes":
            return queryset.exclude(last_error="")
        if self.value() == "no":
            return queryset.filter(last_error="")
        return queryset


@admin.register(PeriodicTaskRun)
class PeriodicTaskRunAdmin(RecordAdmin):
    list_display = ["task", "last_run_at", "last_duration_ms", "runs", "short_error"]
    list_filter = [FailingFilter, ("last_run_at", admin.DateFieldListFilter)]
    search_fields = ["task", "last_error"]
    search_help_text = _("Searches the task's name and its last error.")
    ordering = ["task"]
    readonly_fields = ["task", "last_run_at", "last_duration_ms", "runs", "last_error"]

    @admin.display(description=_("last error"))
    def short_error(self, run: PeriodicTaskRun) -> str:
        return _short_error(run.last_error)


@admin.register(LoginAttempt)
class LoginAttemptAdmin(RecordAdmin):
    """Failed staff logins within the window (ARENA_ADMIN_LOGIN_WINDOW_SECONDS): deleting a username's
    or an address's rows lets it try again at once."""

    list_display = ["username", "address_hash", "attempted_at"]
    list_filter = [("attempted_at", admin.DateFieldListFilter)]
    search_fields = ["username", "=address_hash"]
    search_help_text = _("Searches the username, and finds an address's attempts by its IP hash.")
    ordering = ["-attempted_at"]
