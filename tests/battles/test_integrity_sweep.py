"""The integrity sweep on the real database: suspicious votes left out without a word to the voter,
retroactively, reversibly, every board recounted; a failing signal excludes nothing new (fail open);
the share left out per hour is tracked and alerted on."""

import datetime as dt
import logging

import numpy as np
import pytest
from django.utils import timezone

from battles import integrity
from battles.models import IntegritySweep, Vote
from battles.services.exclusions import votes_exclude, votes_restore
from battles.services.integrity import excluded_share_by_hour, excluded_share_last_hour, integrity_sweep
from ratings.models import ContenderRating, RatingSnapshot, RatingsState
from ratings.services import ratings_refresh_locked
from tests.factories import ContenderFactory, VoteFactory, VoterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contenders():
    return [ContenderFactory(name=name) for name in ("alpha", "beta", "gamma")]


def _vote(voter, a, b, outcome, *, minutes_ago: float, ms: int = 40_000, ip_hash: str = ""):
    return VoteFactory(
        voter=voter,
        contender_a=a,
        contender_b=b,
        outcome=outcome,
        decision_ms=ms,
        ip_hash=ip_hash,
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )


def _honest(contenders, voters: int = 6):
    """Each voter: alpha beats beta and gamma (one tie), beta beats gamma."""
    alpha, beta, gamma = contenders
    votes = []
    for v in range(voters):
        voter = VoterFactory()
        for i, (a, b, outcome) in enumerate(
            [
                (alpha, beta, "a"),
                (beta, gamma, "a"),
                (gamma, alpha, "b"),
                (alpha, gamma, "tie"),
                (beta, alpha, "b"),
            ]
        ):
            votes.append(_vote(voter, a, b, outcome, minutes_ago=300 - 10 * v - i, ip_hash=f"h{v}"))
    return votes


def _board_votes() -> dict[str, int]:
    ratings_refresh_locked()
    snapshot = RatingSnapshot.objects.filter(category__isnull=True).latest("id")
    return dict(ContenderRating.objects.filter(snapshot=snapshot).values_list("contender__name", "votes"))


def test_fast_voter_is_left_out_silently_and_the_boards_recounted(contenders):
    alpha, beta, _ = contenders
    honest = _honest(contenders)
    hasty = VoterFactory()
    quick = [_vote(hasty, alpha, beta, "ab"[i % 2], minutes_ago=50 - i, ms=700) for i in range(6)]
    assert _board_votes() == {"alpha": 30, "beta": 24, "gamma": 18}
    RatingsState.objects.update(recount_requested_at=None)

    result = integrity_sweep()

    assert result.votes_scored == 36
    assert result.votes_excluded == 6 and result.votes_changed == 6 and not result.failed
    for vote in Vote.objects.filter(pk__in=[v.pk for v in quick]):
        assert vote.signals == "fast,fast_voter" and vote.suspicion == pytest.approx(1.2)
        assert vote.excluded_reasons == "fast,fast_voter" and vote.excluded_at is not None
    assert not Vote.objects.filter(pk__in=[v.pk for v in honest]).exclude(excluded_reasons="").exists()
    assert RatingsState.objects.get().recount_requested_at is not None
    assert _board_votes()["alpha"] == 24  # the hasty voter's votes are gone from the board
    state = IntegritySweep.objects.get()
    assert (state.votes_scored, state.votes_excluded, state.failed_signals) == (36, 6, {})
    # A second sweep finds the same and changes nothing.
    assert integrity_sweep().votes_changed == 0


def test_a_ring_found_later_is_left_out_retroactively_and_restored_votes_stay(contenders):
    alpha, beta, gamma = contenders
    _honest(contenders, voters=10)
    # One cookie from one address votes for gamma: 3 votes, not enough for any test yet.
    address = "ring"
    early = [_vote(VoterFactory(), gamma, alpha, "a", minutes_ago=200 - i, ip_hash=address) for i in range(3)]
    integrity_sweep()
    assert not Vote.objects.exclude(excluded_reasons="").exists()
    # More cookies from the same address, all for gamma: the address is now one-sided, the early
    # votes with it.
    later = [
        _vote(VoterFactory(), beta if i % 2 else alpha, gamma, "b", minutes_ago=100 - i, ip_hash=address)
        for i in range(12)
    ]
    integrity_sweep()
    ring = Vote.objects.filter(pk__in=[v.pk for v in early + later])
    assert all("one_sided_address" in vote.excluded_reasons.split(",") for vote in ring)
    assert Vote.objects.exclude(excluded_reasons="").count() == 15
    # Staff restore one: it counts again and the sweep leaves it be (still flagged, for staff).
    restored = early[0]
    votes_restore(vote_ids=[restored.pk])
    integrity_sweep()
    restored.refresh_from_db()
    assert restored.excluded_reasons == "" and "one_sided_address" in restored.signals
    # Staff confirm another: it stays out even once the signals no longer hold.
    confirmed = later[0]
    votes_exclude(vote_ids=[confirmed.pk], reason="staff", override_restored=True)
    # Once the signals no longer hold (none finds anything here), the other votes count again; the
    # confirmed one stays out.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(integrity, "signal_functions", lambda p_value: _nothing_found())
        integrity_sweep()
    confirmed.refresh_from_db()
    assert confirmed.excluded_reasons == "staff" and confirmed.signals == ""
    assert Vote.objects.exclude(excluded_reasons="").count() == 1


def _nothing_found():
    return {code: (lambda votes: np.zeros(len(votes), dtype=bool)) for code in integrity.SIGNALS}


def _failing(code: str):
    def signal(votes):
        raise RuntimeError(f"{code} broke")

    return signal


def test_a_failing_signal_excludes_nothing_new_and_is_reported(contenders, monkeypatch, caplog):
    alpha, beta, _ = contenders
    _honest(contenders)
    hasty = VoterFactory()
    first = [_vote(hasty, alpha, beta, "a", minutes_ago=60 - i, ms=500) for i in range(4)]
    integrity_sweep()
    assert all(
        v.excluded_reasons == "fast,fast_voter" for v in Vote.objects.filter(pk__in=[v.pk for v in first])
    )

    working = integrity.signal_functions(p_value=1e-4)
    monkeypatch.setattr(integrity, "signal_functions", lambda p_value: {**working, "fast": _failing("fast")})
    second_voter = VoterFactory()
    second = [_vote(second_voter, alpha, beta, "a", minutes_ago=30 - i, ms=500) for i in range(4)]
    with caplog.at_level(logging.ERROR, logger="battles.services.integrity"):
        result = integrity_sweep()

    assert result.failed == {"fast": "RuntimeError: fast broke"}
    assert "integrity signal fast failed" in caplog.text
    # The new hasty voter's votes are flagged fast_voter only (0.6): not left out. The first voter's
    # votes keep what the signal found before.
    for vote in Vote.objects.filter(pk__in=[v.pk for v in second]):
        assert vote.signals == "fast_voter" and vote.excluded_reasons == ""
    assert all(
        v.excluded_reasons == "fast,fast_voter" for v in Vote.objects.filter(pk__in=[v.pk for v in first])
    )
    state = IntegritySweep.objects.get()
    assert state.failed_signals == {"fast": "RuntimeError: fast broke"} and state.failures_total == {
        "fast": 1
    }

    monkeypatch.setattr(integrity, "signal_functions", lambda p_value: working)
    assert integrity_sweep().failed == {}
    assert IntegritySweep.objects.get().failures_total == {"fast": 1}
    assert all(
        v.excluded_reasons == "fast,fast_voter" for v in Vote.objects.filter(pk__in=[v.pk for v in second])
    )


def test_a_signal_returning_the_wrong_shape_counts_as_failing(contenders, monkeypatch):
    _honest(contenders)
    monkeypatch.setattr(
        integrity,
        "signal_functions",
        lambda p_value: {**_nothing_found(), "burst": lambda votes: np.ones(len(votes) + 1, dtype=bool)},
    )
    result = integrity_sweep()
    assert set(result.failed) == {"burst"} and "flags" in result.failed["burst"]
    assert not Vote.objects.exclude(excluded_reasons="").exists()


def test_the_share_left_out_is_tracked_per_hour_and_raises_an_alert(
    contenders, settings, caplog, admin_client
):
    alpha, beta, _ = contenders
    _honest(contenders)  # 30 votes, 5 hours ago
    hasty = VoterFactory()
    for i in range(15):
        _vote(hasty, alpha, beta, "a", minutes_ago=20 + i, ms=400)
    honest_now = VoterFactory()
    for i in range(10):
        _vote(honest_now, alpha, beta, "ab"[i % 2], minutes_ago=10 + i)
    settings.ARENA_ALERT_EXCLUDED_SHARE = 0.5
    with caplog.at_level(logging.WARNING, logger="battles.services.integrity"):
        integrity_sweep()
    assert "left out" in caplog.text  # 15 of 25 = 60%: above 50%
    share = excluded_share_last_hour(now=timezone.now())
    assert (share.votes, share.excluded) == (25, 15)
    hours = excluded_share_by_hour(now=timezone.now())
    assert sum(h.votes for h in hours) == 55 and sum(h.excluded for h in hours) == 15

    admin_client.cookies["arena_language"] = "en"
    page = admin_client.get("/admin/dashboard/")
    assert "60% of the last hour" in page.content.decode()
    settings.ARENA_METRICS_TOKEN = ""
    metrics = admin_client.get("/metrics").content.decode()
    assert "arena_votes_excluded_share_last_hour 0.6" in metrics
    assert 'arena_integrity_signal_failures_total{signal="fast"} 0.0' in metrics

    settings.ARENA_ALERT_EXCLUDED_SHARE = 0.7
    assert "60% of the last hour" not in admin_client.get("/admin/dashboard/").content.decode()


def test_too_few_votes_raise_no_alert(contenders):
    alpha, beta, _ = contenders
    hasty = VoterFactory()
    for i in range(5):
        _vote(hasty, alpha, beta, "a", minutes_ago=5 + i, ms=400)
    integrity_sweep()
    assert Vote.objects.exclude(excluded_reasons="").count() == 5
    share = excluded_share_last_hour(now=timezone.now())
    assert (share.votes, share.excluded, share.is_alarming) == (5, 5, False)


def test_the_board_is_cleaned_of_the_votes_a_pass_leaves_out_before_scoring_again(contenders, monkeypatch):
    """A crowd large enough to lift gamma on the published board: against that board the light
    voters among it look plausible; against the board without the heavy voters (left out in the
    first pass), they do not."""
    alpha, beta, gamma = contenders
    _honest(contenders, voters=40)  # gamma is the weakest
    heavy = [VoterFactory() for _ in range(3)]
    light = [VoterFactory() for _ in range(8)]
    for n, voter in enumerate(heavy):
        for i in range(25):
            _vote(voter, gamma, [alpha, beta][i % 2], "a", minutes_ago=200 - n * 30 - i, ip_hash=f"x{n}")
    for n, voter in enumerate(light):
        for i in range(6):
            _vote(voter, [alpha, beta][i % 2], gamma, "b", minutes_ago=100 - n * 8 - i, ip_hash=f"y{n}")
    ratings_refresh_locked()
    light_votes = Vote.objects.filter(voter__in=light)

    heavy_votes = Vote.objects.filter(voter__in=heavy)

    def left_out() -> tuple[int, int]:
        return heavy_votes.exclude(excluded_reasons="").count(), light_votes.exclude(
            excluded_reasons=""
        ).count()

    monkeypatch.setattr("battles.services.integrity.CLEANING_PASSES", 1)
    integrity_sweep()
    once = left_out()
    monkeypatch.setattr("battles.services.integrity.CLEANING_PASSES", 3)
    integrity_sweep()
    assert left_out() == (75, 48) and once != (75, 48)


def test_the_periodic_task_sweeps_and_records_its_run(contenders):
    from arena.models import PeriodicTaskRun
    from battles.tasks import integrity_sweep_task

    alpha, beta, _ = contenders
    hasty = VoterFactory()
    for i in range(4):
        _vote(hasty, alpha, beta, "a", minutes_ago=10 + i, ms=300)
    assert integrity_sweep_task(periodic=True) == 4
    assert Vote.objects.exclude(excluded_reasons="").count() == 4
    assert PeriodicTaskRun.objects.filter(task="integrity_sweep_task").exists()


def test_the_command_sweeps_now_and_says_what_it_found(contenders):
    from io import StringIO

    from django.core.management import call_command

    alpha, beta, _ = contenders
    _honest(contenders)
    hasty = VoterFactory()
    for i in range(4):
        _vote(hasty, alpha, beta, "a", minutes_ago=10 + i, ms=300)
    out = StringIO()
    call_command("integrity_sweep", stdout=out)
    assert "34 votes of the last 14 days scored" in out.getvalue()
    assert "4 flagged, 4 left out, 4 changed" in out.getvalue()
    assert Vote.objects.exclude(excluded_reasons="").count() == 4
