"""The dashboard's alerts: what needs an operator now, in words they can act on, each with a link
to the rows behind it. Worst first."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from arena.selectors import workers_heard_from
from battles.models import IntegritySweep
from battles.services.integrity import ExcludedShare
from dashboard.selectors import ContenderHealth, PoolState
from dashboard.selectors_judges import JudgeHealth
from dashboard.selectors_votes import VotesOverview

CRITICAL, WARNING = "critical", "warning"


@dataclass
class Alert:
    level: str
    message: str
    link: str


def _admin_list(model: str, **filters: Any) -> str:
    url = reverse(f"admin:{model}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def moment_shown(moment: datetime) -> str:
    """A moment as the admin shows one: local time, the short date and time format."""
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _attempts_of(contender: ContenderHealth) -> str:
    return _admin_list("battles_answerattempt", answer__contender__id__exact=contender.id)


def contender_alerts(contenders: list[ContenderHealth]) -> list[Alert]:
    """Paused, failing and slow contenders (inactive ones are left alone)."""
    alerts = []
    slow_ms = settings.ARENA_ALERT_SLOW_ANSWER_SECONDS * 1000
    for contender in contenders:
        if not contender.is_active:
            continue
        if contender.paused_until is not None:
            alerts.append(
                Alert(
                    CRITICAL,
                    _(
                        "%(name)s is paused until %(until)s: %(reason)s Check its endpoint; it is "
                        "probed and restored by itself once it answers, or resume it from its page."
                    )
                    % {
                        "name": contender.name,
                        "until": moment_shown(contender.paused_until),
                        "reason": contender.paused_reason or contender.last_error,
                    },
                    reverse("admin:battles_contender_change", args=[contender.id]),
                )
            )
        elif contender.consecutive_failures:
            alerts.append(
                Alert(
                    WARNING,
                    ngettext(
                        "%(name)s failed its last call: %(error)s",
                        "%(name)s failed its last %(count)d calls: %(error)s",
                        contender.consecutive_failures,
                    )
                    % {
                        "name": contender.name,
                        "count": contender.consecutive_failures,
                        "error": contender.last_error[:200],
                    },
                    _attempts_of(contender),
                )
            )
        if contender.latency_p95_ms is not None and contender.latency_p95_ms > slow_ms:
            alerts.append(
                Alert(
                    WARNING,
                    _(
                        "%(name)s is slow: 95%% of its answers of the last day took up to %(seconds)d s "
                        "(the alert is at %(limit)d s). Lower its max tokens or give its server more room."
                    )
                    % {
                        "name": contender.name,
                        "seconds": round(contender.latency_p95_ms / 1000),
                        "limit": settings.ARENA_ALERT_SLOW_ANSWER_SECONDS,
                    },
                    _attempts_of(contender),
                )
            )
    return alerts


def pool_alerts(pool: PoolState, *, ready: int) -> list[Alert]:
    target = settings.ARENA_POOL_TARGET
    link = _admin_list("battles_battle", status__exact="generating")
    if target and ready == 0:
        return [
            Alert(
                CRITICAL,
                _(
                    "The pool is empty: voters wait while battles are prepared for them. Check the "
                    "workers and the contenders below."
                ),
                link,
            )
        ]
    if ready < target:
        return [
            Alert(
                WARNING,
                _("The pool holds %(ready)d ready battles of its target of %(target)d.")
                % {"ready": ready, "target": target},
                link,
            )
        ]
    return []


def process_alerts(readiness: dict[str, Any]) -> list[Alert]:
    """No worker heard from, beat silent, the broker unreachable."""
    checks = readiness["checks"]
    alerts = []
    if checks.get("broker", {}).get("status") != "ok":
        alerts.append(
            Alert(
                CRITICAL,
                _(
                    "The broker cannot be reached (%(error)s): no answer is generated and votes wait "
                    "for the next refresh. Start Redis again; workers reconnect by themselves."
                )
                % {"error": checks.get("broker", {}).get("error", "")},
                _admin_list("arena_storeoutage"),
            )
        )
    silent = settings.ARENA_ALERT_WORKER_SILENT_SECONDS
    workers = checks.get("workers", {}).get("workers", [])
    if not workers_heard_from(workers, within_seconds=silent):
        alerts.append(
            Alert(
                CRITICAL,
                _(
                    "No worker has been heard from for %(seconds)d s: answers are not generated and "
                    "the board is not refreshed. Start a worker (celery -A arena worker)."
                )
                % {"seconds": silent},
                _admin_list("arena_workerheartbeat"),
            )
        )
    beat = checks.get("beat", {})
    if beat.get("late"):
        alerts.append(
            Alert(
                CRITICAL,
                _(
                    "Beat is silent: %(tasks)s did not run on time. Start beat (celery -A arena beat) "
                    "or a worker with --beat."
                )
                % {"tasks": ", ".join(beat["late"])},
                _admin_list("arena_periodictaskrun"),
            )
        )
    return alerts


def board_alerts(lag: dict[str, Any]) -> list[Alert]:
    stale = settings.ARENA_ALERT_SNAPSHOT_STALE_SECONDS
    age = lag["age_seconds"]
    if lag["votes_behind"] and (age is None or age > stale):
        return [
            Alert(
                WARNING,
                _(
                    "Votes arrived and the leaderboard is older than %(minutes)d minutes: check the "
                    "worker's log for the ratings refresh."
                )
                % {"minutes": round(stale / 60)},
                _admin_list("ratings_ratingsnapshot"),
            )
        ]
    return []


def rejection_alerts(votes: VotesOverview) -> list[Alert]:
    share = votes.rejected_share
    attempts = votes.last_hour_votes + votes.last_hour_rejected
    if share is None or attempts < 20 or share <= settings.ARENA_ALERT_REJECTED_SHARE:
        return []
    reasons = ", ".join(f"{code} {count}" for code, count in votes.rejections[:3])
    return [
        Alert(
            WARNING,
            _(
                "%(share)d%% of the votes of the last hour were refused (%(reasons)s): a script, or "
                "limits too tight for a crowd behind one address. See the busiest addresses below."
            )
            % {"share": round(share * 100), "reasons": reasons},
            "#votes",
        )
    ]


def integrity_alerts(share: ExcludedShare, sweep: IntegritySweep | None) -> list[Alert]:
    """Too many votes left out in the last hour, and signals that failed in the last sweep."""
    found = []
    link = reverse("dashboard-integrity")
    if share.is_alarming:
        found.append(
            Alert(
                WARNING,
                _(
                    "%(share)d%% of the last hour's votes are left out of the boards (%(excluded)d of "
                    "%(votes)d): a wave of bad votes, or a signal gone wrong. See the flagged votes."
                )
                % {"share": round(share.share * 100), "excluded": share.excluded, "votes": share.votes},
                link,
            )
        )
    for code, error in sorted((sweep.failed_signals if sweep else {}).items()):
        found.append(
            Alert(
                WARNING,
                _(
                    "The vote signal %(signal)s failed in the last sweep (%(error)s): it leaves no new "
                    "vote out until it works again."
                )
                % {"signal": code, "error": error},
                link,
            )
        )
    return found


def coverage_alerts(unbattled: dict[str, Any]) -> list[Alert]:
    alerts = []
    if unbattled["question_count"]:
        alerts.append(
            Alert(
                WARNING,
                ngettext(
                    "%(count)d active question has never been in a battle.",
                    "%(count)d active questions have never been in a battle.",
                    unbattled["question_count"],
                )
                % {"count": unbattled["question_count"]},
                _admin_list("battles_question", is_active__exact=1),
            )
        )
    for contender in unbattled["contenders"]:
        alerts.append(
            Alert(
                WARNING,
                _("%(name)s has never been in a battle.") % {"name": contender["name"]},
                reverse("admin:battles_contender_change", args=[contender["id"]]),
            )
        )
    return alerts


def alerts_sorted(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda alert: alert.level != CRITICAL)


def judge_alerts(judges: list[JudgeHealth]) -> list[Alert]:
    """Judges whose day's calls are spent, or whose replies too often hold no verdict."""
    from dashboard.selectors_judges import UNPARSEABLE_ALERT_SHARE

    alerts = []
    for judge in judges:
        if not judge.is_active:
            continue
        link = reverse("admin:judges_judge_change", args=[judge.id])
        if judge.budget_spent and judge.waiting:
            alerts.append(
                Alert(
                    WARNING,
                    ngettext(
                        "%(name)s has spent its %(budget)s calls for today; %(count)s verdict waits for "
                        "tomorrow (UTC). Raise its budget to judge it sooner.",
                        "%(name)s has spent its %(budget)s calls for today; %(count)s verdicts wait for "
                        "tomorrow (UTC). Raise its budget to judge them sooner.",
                        judge.waiting,
                    )
                    % {"name": judge.name, "budget": judge.daily_call_budget, "count": judge.waiting},
                    link,
                )
            )
        share = judge.unparseable_share
        if share is not None and share > UNPARSEABLE_ALERT_SHARE and judge.finished >= 20:
            alerts.append(
                Alert(
                    WARNING,
                    _(
                        "%(share)d%% of %(name)s's verdicts of the last day were unparseable: its replies "
                        "do not end with a verdict such as [[A>B]]. Check its prompt and its maximum tokens."
                    )
                    % {"share": round(share * 100), "name": judge.name},
                    _admin_list("judges_verdict", status__exact="unparseable", judge__id__exact=judge.id),
                )
            )
    return alerts
