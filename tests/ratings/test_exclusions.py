"""Votes left out of the boards and restored: kept and marked, every board recounted from the votes
that count, exactly as if the left-out votes had never been cast; restored, exactly as before."""

import datetime as dt
import io

import pytest

from battles.models import Vote
from battles.services.exclusions import votes_exclude, votes_reason_withdrawn, votes_restore
from ratings.models import ContenderRating, EloRating, PairCount, RatingSnapshot, RatingsState
from ratings.selectors_vote_table import VoteFilter, vote_export_rows
from ratings.services import ratings_refresh, ratings_refresh_locked
from ratings.services.battle_logs import battles_export
from tests.factories import CategoryFactory, ContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _board() -> dict[str, tuple]:
    snapshot = RatingSnapshot.objects.filter(category__isnull=True).latest("id")
    return {
        rating.contender.name: (rating.votes, rating.wins, round(rating.bt_rating, 6), round(rating.elo, 6))
        for rating in ContenderRating.objects.filter(snapshot=snapshot).select_related("contender")
    }


def _state() -> tuple:
    return (
        sorted(
            PairCount.objects.values_list("category_key", "contender_a", "contender_b", "outcome", "count")
        ),
        sorted(EloRating.objects.values_list("category_key", "contender", "rating")),
    )


@pytest.fixture
def arena():
    category = CategoryFactory()
    alpha, beta, gamma = (ContenderFactory(name=name) for name in ("alpha", "beta", "gamma"))
    honest, pushed = [], []
    for minute in range(30):
        a, b = [(alpha, beta), (beta, gamma), (gamma, alpha)][minute % 3]
        honest.append(
            VoteFactory(
                contender_a=a,
                contender_b=b,
                category=category,
                outcome="ab"[minute % 2],
                created_at=T0 + dt.timedelta(minutes=minute),
            )
        )
    for minute in range(12):  # a push for gamma, interleaved in time with the honest votes
        pushed.append(
            VoteFactory(
                contender_a=gamma,
                contender_b=alpha,
                category=category,
                outcome="a",
                created_at=T0 + dt.timedelta(minutes=minute * 2, seconds=30),
            )
        )
    ratings_refresh_locked(categories=True)
    return honest, pushed


def test_left_out_votes_are_kept_and_every_board_is_recounted_as_if_never_cast(arena):
    _honest, pushed = arena
    with_push = _board()
    assert votes_exclude(vote_ids=[vote.pk for vote in pushed], reason="leak") == 12
    assert Vote.objects.count() == 42  # kept
    assert set(
        Vote.objects.filter(pk__in=[v.pk for v in pushed]).values_list("excluded_reasons", flat=True)
    ) == {"leak"}
    assert RatingsState.objects.get().recount_requested_at is not None
    ratings_refresh_locked()  # the next refresh recounts
    assert RatingsState.objects.get().recount_requested_at is None
    without_push, recounted_state = _board(), _state()
    assert sum(votes for votes, *_ in without_push.values()) == 2 * 30
    assert without_push["gamma"][1] < with_push["gamma"][1]
    # Exactly what an arena that never saw those votes computes.
    Vote.objects.filter(pk__in=[v.pk for v in pushed]).delete()
    from ratings.services import ratings_rebuild

    ratings_rebuild(categories=True)
    assert _board() == without_push and _state() == recounted_state


def test_restored_votes_count_again_exactly_as_before(arena):
    _honest, pushed = arena
    before, state_before = _board(), _state()
    votes_exclude(vote_ids=[vote.pk for vote in pushed], reason="leak")
    ratings_refresh_locked()
    assert _board() != before
    assert votes_restore(vote_ids=[vote.pk for vote in pushed]) == 12
    ratings_refresh_locked()
    assert _board() == before and _state() == state_before
    # Restored by staff: an automatic check does not leave them out again, staff may.
    assert votes_exclude(vote_ids=[vote.pk for vote in pushed], reason="leak") == 0
    assert votes_exclude(vote_ids=[pushed[0].pk], reason="leak", override_restored=True) == 1


def test_a_reason_withdrawn_counts_the_vote_again_unless_another_holds(arena):
    _honest, pushed = arena
    vote = pushed[0]
    votes_exclude(vote_ids=[vote.pk], reason="leak")
    Vote.objects.filter(pk=vote.pk).update(excluded_reasons="leak,other")
    assert votes_reason_withdrawn(vote_ids=[vote.pk], reason="leak") == 1
    vote.refresh_from_db()
    assert vote.excluded_reasons == "other" and vote.excluded_at is not None
    Vote.objects.filter(pk=vote.pk).update(excluded_reasons="leak")
    votes_reason_withdrawn(vote_ids=[vote.pk], reason="leak")
    vote.refresh_from_db()
    assert vote.is_counted and vote.excluded_at is None
    with pytest.raises(ValueError, match="unknown exclusion reason"):
        votes_exclude(vote_ids=[vote.pk], reason="made up")


def test_exports_hold_the_votes_that_count(arena):
    _honest, pushed = arena
    votes_exclude(vote_ids=[vote.pk for vote in pushed], reason="leak")
    exported = list(vote_export_rows(VoteFilter(), with_voter=False, batch_rows=100))
    assert len(exported) == 30 and not {row[0] for row in exported} & {vote.pk for vote in pushed}
    assert len(list(vote_export_rows(VoteFilter(with_excluded=True), with_voter=False, batch_rows=100))) == 42
    output = io.StringIO()
    assert battles_export(output=output) == 30


def test_a_new_vote_after_a_recount_is_counted_incrementally(arena):
    _honest, pushed = arena
    votes_exclude(vote_ids=[vote.pk for vote in pushed], reason="leak")
    ratings_refresh_locked()
    alpha, beta = (ContenderFactory._meta.model.objects.get(name=name) for name in ("alpha", "beta"))
    VoteFactory(contender_a=alpha, contender_b=beta, outcome="a", created_at=T0 + dt.timedelta(hours=1))
    snapshot = ratings_refresh()
    assert snapshot.vote_count == 31
    assert RatingsState.objects.get().elo_vote_count == 31
