"""The dashboard's view of the LLM judges: their calls today against the budget, their queue, what
their last day of verdicts came to, and how they agree with the voters."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count

from judges.models import Judge, JudgeDay, JudgeSnapshot, Verdict

# Verdicts finished in this window count towards a judge's recent figures.
RECENT = timedelta(hours=24)
# More unparseable replies than this share of a judge's recent ones is an alert: its prompt or model
# does not follow the format.
UNPARSEABLE_ALERT_SHARE = 0.2


@dataclass
class JudgeHealth:
    id: int
    name: str
    contender_id: int
    is_active: bool
    endpoint_paused: bool
    daily_call_budget: int
    calls_today: int
    waiting: int
    recent: dict[str, int] = field(default_factory=dict)  # status → verdicts finished in RECENT
    agreement: dict[str, object] | None = None

    @property
    def budget_spent(self) -> bool:
        return self.calls_today >= self.daily_call_budget

    @property
    def finished(self) -> int:
        return sum(self.recent.values())

    @property
    def unparseable_share(self) -> float | None:
        return self.recent.get("unparseable", 0) / self.finished if self.finished else None


def judges_health(*, now: datetime) -> list[JudgeHealth]:
    """Every judge, by name: five queries whatever their number."""
    judges = list(
        Judge.objects.select_related("contender")
        .order_by("contender__name")
        .values_list(
            "id",
            "contender__name",
            "contender_id",
            "is_active",
            "contender__paused_until",
            "daily_call_budget",
        )
    )
    if not judges:
        return []
    calls = dict(JudgeDay.objects.filter(day=now.date()).values_list("judge_id", "calls"))
    waiting = dict(
        Verdict.objects.filter(status__in=[Verdict.Status.PENDING, Verdict.Status.RUNNING])
        .values_list("judge_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    recent: dict[int, dict[str, int]] = {}
    for judge_id, status, count in (
        Verdict.objects.filter(finished_at__gte=now - RECENT)
        .values_list("judge_id", "status")
        .annotate(count=Count("id"))
        .order_by()
    ):
        recent.setdefault(judge_id, {})[status] = count
    snapshot = JudgeSnapshot.objects.filter(category__isnull=True).order_by("-created_at", "-id").first()
    agreement = {item.get("judge_id"): item for item in (snapshot.agreement if snapshot else [])}
    return [
        JudgeHealth(
            id=judge_id,
            name=name,
            contender_id=contender_id,
            is_active=is_active,
            endpoint_paused=paused_until is not None,
            daily_call_budget=budget,
            calls_today=calls.get(judge_id, 0),
            waiting=waiting.get(judge_id, 0),
            recent=recent.get(judge_id, {}),
            agreement=agreement.get(judge_id),
        )
        for judge_id, name, contender_id, is_active, paused_until, budget in judges
    ]
