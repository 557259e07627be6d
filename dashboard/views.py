import datetime as dt
import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from arena.selectors import pool_counted_up_to, queue_depths_of, readiness
from battles.selectors import contender_find
from battles.services.contenders import contender_pause, contender_resume
from battles.services.exclusions import EXCLUSION_REASONS, flagged_votes_decide
from battles.services.health import contender_probe, probe_message
from battles.services.integrity import excluded_share_by_hour, excluded_share_last_hour
from dashboard import (
    alerts,
    selectors,
    selectors_integrity,
    selectors_judges,
    selectors_pairing,
    selectors_votes,
)
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
    judges = selectors_judges.judges_health(now=now)
    found = (
        alerts.process_alerts(report)
        + alerts.pool_alerts(pool, ready=ready)
        + alerts.contender_alerts(contenders)
        + alerts.board_alerts(lag)
        + alerts.rejection_alerts(votes)
        + alerts.coverage_alerts(unbattled)
        + alerts.integrity_alerts(excluded_share_last_hour(now=now), selectors_integrity.last_sweep())
        + alerts.judge_alerts(judges)
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
        "pairing": selectors_pairing.pairing_overview(),
        "judges": judges,
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


HOURS_SHOWN = 48


def integrity(request: HttpRequest) -> HttpResponse:
    """What the integrity sweep found: the share of votes left out per hour, the flagged voters and
    votes (confirm or restore one or many), and the board with and without the votes left out."""
    now = timezone.now()
    voter = request.GET.get("voter", "")
    try:
        voter_id = uuid.UUID(voter) if voter else None
    except ValueError:
        voter_id = None
    sweep = selectors_integrity.last_sweep()
    hours = excluded_share_by_hour(now=now, hours=HOURS_SHOWN)
    by_start = {hour.start: hour for hour in hours}
    current = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    chart = [
        (start, round(100 * by_start[start].share) if start in by_start else 0)
        for start in (current - dt.timedelta(hours=step) for step in reversed(range(HOURS_SHOWN)))
    ]
    context = {
        **admin.site.each_context(request),
        "title": _("Vote integrity"),
        "now": now,
        "sweep": sweep,
        "alerts": alerts.integrity_alerts(excluded_share_last_hour(now=now), sweep),
        "hours_chart": chart,
        "hours_with_exclusions": [hour for hour in reversed(hours) if hour.excluded],
        "hours_shown": HOURS_SHOWN,
        "voters": selectors_integrity.flagged_voters(),
        "votes": selectors_integrity.flagged_votes(voter_id=voter_id),
        "voter_id": voter_id,
        "boards": selectors_integrity.boards_compared(),
        "settings": selectors_integrity.integrity_settings(),
        "reasons": EXCLUSION_REASONS,
        "can_change": request.user.has_perm("battles.change_vote"),
    }
    return TemplateResponse(request, "dashboard/integrity.html", context)


@require_POST
def integrity_action(request: HttpRequest) -> HttpResponse:
    """Confirm (left out for good, whatever the signals say later) or restore (counted, and left be by
    the sweep) the chosen flagged votes, and every flagged vote of the chosen voters."""
    if not request.user.has_perm("battles.change_vote"):
        raise PermissionDenied
    action = request.POST.get("action")
    if action not in ("confirm", "restore"):
        raise Http404
    vote_ids = {int(value) for value in request.POST.getlist("vote") if value.isdigit()}
    voter_ids = []
    for value in request.POST.getlist("voter"):
        try:
            voter_ids.append(uuid.UUID(value))
        except ValueError:
            continue
    if not vote_ids and not voter_ids:
        messages.warning(request, _("Choose votes or voters first."))
    elif action == "confirm":
        count = flagged_votes_decide(vote_ids=vote_ids, voter_ids=voter_ids, confirm=True)
        messages.success(
            request,
            ngettext(
                "%(count)d vote is left out for good; the boards are recounted.",
                "%(count)d votes are left out for good; the boards are recounted.",
                count,
            )
            % {"count": count},
        )
    else:
        count = flagged_votes_decide(vote_ids=vote_ids, voter_ids=voter_ids, confirm=False)
        messages.success(
            request,
            ngettext(
                "%(count)d vote counts again; the boards are recounted.",
                "%(count)d votes count again; the boards are recounted.",
                count,
            )
            % {"count": count},
        )
    back = request.POST.get("back_voter", "")
    return redirect(reverse("dashboard-integrity") + (f"?{urlencode({'voter': back})}" if back else ""))
