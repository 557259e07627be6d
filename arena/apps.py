from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ArenaConfig(AppConfig):
    """The project's own tables: how its processes and stores are doing (heartbeats, outages)."""

    name = "arena"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        # Whatever a request left to count along (a request that failed before counting it) ends with it.
        request_finished.connect(_forget_windows, dispatch_uid="arena-forget-windows")
        for directory in settings.DIRECTORIES:
            directory.mkdir(parents=True, exist_ok=True)


def _forget_windows(**kwargs: object) -> None:
    from arena.cache import windows_count_forget

    windows_count_forget()


class ArenaAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with Arena's site (arena/admin_site.py) as `admin.site`."""

    # Not the configuration of the `arena` app itself (ArenaConfig is).
    default = False
    default_site = "arena.admin_site.ArenaAdminSite"
