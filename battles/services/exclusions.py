"""Votes left out of the boards and restored. A vote left out is kept, marked with why
(`Vote.excluded_reasons`), and restorable; either way the ratings are recounted from the votes that
count (ratings_recount_request) by the next refresh."""

from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from battles.models import Vote
from ratings.services import ratings_recount_request

# The integrity sweep's signals (battles/integrity.py), as staff read them; a vote scoring over the
# threshold is left out for the signals it carries.
SIGNAL_REASONS = {
    "fast": _("decided faster than the answers can be read"),
    "fast_voter": _("a voter who mostly decides that fast"),
    "outlier": _("a voter whose verdicts disagree with the board beyond chance"),
    "one_sided": _("a voter always for (or against) one model"),
    "one_sided_address": _("an address always for (or against) one model"),
    "burst": _("a burst of votes from one address"),
    "fresh_crowd": _("many new voters at one address"),
    "lockstep": _("voters casting the same verdicts together"),
}

# Why a vote may be left out: a code (stored, comma-separated) and what staff read.
EXCLUSION_REASONS = {
    "leak": _("a battle whose answer names a model"),
    "staff": _("left out by staff"),
    **SIGNAL_REASONS,
}


def codes_of(stored: str) -> list[str]:
    """The codes of a comma-separated field (a vote's exclusion reasons or signals)."""
    return [code for code in stored.split(",") if code]


def _reasons_changed(votes: QuerySet[Vote], change: Callable[[list[str]], list[str] | None]) -> int:
    """Give each vote the reasons `change` makes of its own (None: no change), under the votes' row
    locks; a vote whose reasons go from none to some is left out now, from some to none counts again.
    Asks for a recount when any vote changed; returns how many did."""
    now = timezone.now()
    changed = []
    with transaction.atomic():
        for vote in votes.select_for_update().only("id", "excluded_reasons", "excluded_at", "restored_at"):
            reasons = codes_of(vote.excluded_reasons)
            new = change(reasons)
            if new is None:
                continue
            vote.excluded_reasons = ",".join(new)
            vote.excluded_at = (vote.excluded_at or now) if new else None
            if new:
                vote.restored_at = None
            changed.append(vote)
        Vote.objects.bulk_update(changed, ["excluded_reasons", "excluded_at", "restored_at"], batch_size=2000)
        if changed:
            ratings_recount_request()
    return len(changed)


def votes_exclude(*, vote_ids: Iterable[int], reason: str, override_restored: bool = False) -> int:
    """Leave these votes out of the boards for `reason` (added to any reasons they have). Votes staff
    restored are left alone unless `override_restored` (staff confirming). Returns how many votes
    gained the reason."""
    if reason not in EXCLUSION_REASONS:
        raise ValueError(f"unknown exclusion reason {reason!r}")
    votes = Vote.objects.filter(pk__in=list(vote_ids))
    if not override_restored:
        votes = votes.filter(restored_at__isnull=True)
    return _reasons_changed(votes, lambda reasons: None if reason in reasons else [*reasons, reason])


def votes_reason_withdrawn(*, vote_ids: Iterable[int], reason: str) -> int:
    """An automatic check no longer holds `reason` against these votes (the answer was changed, an
    alias removed): the reason goes, and a vote without any other counts again."""
    votes = Vote.objects.filter(pk__in=list(vote_ids)).exclude(excluded_reasons="")
    return _reasons_changed(
        votes, lambda reasons: [code for code in reasons if code != reason] if reason in reasons else None
    )


def votes_restore(*, vote_ids: Iterable[int]) -> int:
    """Staff put these votes back on the boards, whatever left them out; automatic checks leave them
    be from now on. Returns how many votes were restored."""
    now = timezone.now()
    with transaction.atomic():
        restored = (
            Vote.objects.filter(pk__in=list(vote_ids))
            .exclude(excluded_reasons="")
            .update(excluded_reasons="", excluded_at=None, restored_at=now)
        )
        if restored:
            ratings_recount_request()
    return restored


def flagged_votes_decide(*, vote_ids: Iterable[int], voter_ids: Iterable[object], confirm: bool) -> int:
    """Staff confirm (left out for good, whatever the signals say later) or restore these votes and
    every flagged vote of these voters. Returns how many votes changed."""
    chosen = set(vote_ids) | set(
        Vote.objects.filter(voter_id__in=list(voter_ids)).exclude(signals="").values_list("pk", flat=True)
    )
    if confirm:
        return votes_exclude(vote_ids=chosen, reason="staff", override_restored=True)
    return votes_restore(vote_ids=chosen)
