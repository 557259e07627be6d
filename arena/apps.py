from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ArenaConfig(AppConfig):
    """The project's own tables: how its processes and stores are doing (heartbeats, outages)."""

    name = "arena"
    verbose_name = _("Operations")
