from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from arena.selectors import pool_counted_up_to, queue_depths_of, readiness
from battles.selectors import contender_find
from battles.services.contenders import contender_pause, contender_resume
from battles.services.health import contender_probe, probe_message
from dashboard import alerts, selectors, selectors_votes
from ratings.selectors import vote_total_counted


def dashboard(request: HttpRequest) -> HttpResponse:
    """The arena at a glance, for staff: alerts first, then contenders, the pool and the workers."""
    now = timezone.now()
    report = readiness(queue_depths=True)
    contenders = selectors.contenders_health(now=now)
    pool = selectors.pool_state(
        voted=vote_total_counted(), up_to=pool_counted_up_to(), queues=queue_depths_of(report)
    )
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
        "pool_counted_up_to": report["checks"].get("pool", {}).get("counted_up_to"),
        "workers": report["checks"].get("workers", {}).get("workers", []),
        "periodic": report["checks"].get("beat", {}).get("tasks", {}),
        "lag": lag,
        "unbattled": unbattled,
        "votes": votes,
        "coverage": selectors_votes.coverage(now=now),
        "few_pair_votes": settings.ARENA_DASHBOARD_FEW_PAIR_VOTES,
    }
    return TemplateResponse(request, "dashboard/index.html", context)


CONTENDER_ACTIONS = ("pause", "resume", "test")


@require_POST
def contender_action(request: HttpRequest, contender_id: int, action: str) -> HttpResponse:
    """Pause (take out of battles), resume (back in, any failure pause cleared) or test a contender's
    endpoint from its dashboard row; back to the dashboard with what happened."""
    if not request.user.has_perm("battles.change_contender"):
        raise PermissionDenied
    contender = contender_find(contender_id=contender_id)
    if contender is None or action not in CONTENDER_ACTIONS:
        raise Http404
    if action == "pause":
        contender_pause(contender_id=contender.pk)
        messages.success(
            request, _("%(name)s is out of new battles until resumed.") % {"name": contender.name}
        )
    elif action == "resume":
        contender_resume(contender_id=contender.pk)
        messages.success(request, _("%(name)s is back in battles.") % {"name": contender.name})
    else:
        result = contender_probe(contender=contender)
        (messages.success if result.is_ok else messages.error)(
            request, probe_message(name=contender.name, result=result)
        )
    return redirect(f"{reverse('dashboard')}#contenders-title")
