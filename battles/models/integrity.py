"""The integrity sweep's last run, for staff and the metrics (battles/services/integrity.py)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class IntegritySweep(models.Model):
    """One row: when the votes were last scored, what was found, and which signals failed (a signal
    that fails excludes nothing: the votes it flagged before keep that flag until it works again)."""

    swept_at = models.DateTimeField(_("swept at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    votes_scored = models.PositiveIntegerField(_("votes scored"), default=0)
    votes_flagged = models.PositiveIntegerField(_("votes flagged"), default=0)
    votes_excluded = models.PositiveIntegerField(_("votes left out"), default=0)
    votes_changed = models.PositiveIntegerField(_("votes changed"), default=0)
    # {signal code: error} of the last sweep, and {signal code: count} since the arena started.
    failed_signals = models.JSONField(_("failed signals"), default=dict, blank=True)
    failures_total = models.JSONField(_("signal failures"), default=dict, blank=True)

    class Meta:
        verbose_name = _("integrity sweep")
        verbose_name_plural = _("integrity sweeps")

    def __str__(self) -> str:
        return f"integrity sweep at {self.swept_at}"
