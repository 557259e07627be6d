from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from arena.selectors import readiness
from dashboard import alerts, selectors, selectors_votes


def dashboard(request: HttpRequest) -> HttpResponse:
    """The arena at a glance, for staff: alerts first, then contenders, the pool and the workers."""
    now = timezone.now()
    report = readiness()
    contenders = selectors.contenders_health(now=now)
    pool = selectors.pool_state()
    ready = report["checks"].get("pool", {}).get("ready", 0)
    lag = selectors.snapshot_lag(now=now)
    unbattled = selectors.unbattled()
    votes = selectors_votes.votes_overview(now=now)
    found = (
        alerts.process_alerts(report)
        + alerts.pool_alerts(pool, ready=ready)
        + alerts.contender_alerts(contenders)
        + alerts.board_alerts(lag)
        + alerts.rejection_alerts(votes)
        + alerts.coverage_alerts(unbattled)
    )
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "now": now,
        "alerts": alerts.alerts_sorted(found),
        "contenders": contenders,
        "pool": pool,
        "pool_target": settings.ARENA_POOL_TARGET,
        "pool_ready": ready,
        "workers": report["checks"].get("workers", {}).get("workers", []),
        "periodic": report["checks"].get("beat", {}).get("tasks", {}),
        "lag": lag,
        "unbattled": unbattled,
        "votes": votes,
        "coverage": selectors_votes.coverage(now=now),
        "few_pair_votes": settings.ARENA_DASHBOARD_FEW_PAIR_VOTES,
    }
    return TemplateResponse(request, "dashboard/index.html", context)
