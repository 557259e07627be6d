"""What the processes report about themselves: shown to staff, never typed in (deleting old rows is
fine)."""

from django.contrib import admin
from django.http import HttpRequest

from arena.models import PeriodicTaskRun, StoreOutage, WorkerHeartbeat


class ReportedAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StoreOutage)
class StoreOutageAdmin(ReportedAdmin):
    list_display = ["store", "started_at", "ended_at", "fallback_total", "last_error"]
    list_filter = ["store"]
    readonly_fields = ["store", "started_at", "ended_at", "fallback_total", "fallbacks", "last_error"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReportedAdmin):
    list_display = ["name", "queues", "last_seen_at", "started_at", "tasks_done", "broker_connected"]
    readonly_fields = [
        *["name", "pid", "queues", "started_at", "last_seen_at", "tasks_done", "broker_connected"],
    ]


@admin.register(PeriodicTaskRun)
class PeriodicTaskRunAdmin(ReportedAdmin):
    list_display = ["task", "last_run_at", "last_duration_ms", "runs", "last_error"]
    readonly_fields = ["task", "last_run_at", "last_duration_ms", "runs", "last_error"]
