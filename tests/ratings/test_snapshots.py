"""Snapshots: per category, preliminary marks, history thinning, and rebuild = refresh."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Min
from django.utils import timezone

from battles.models import Vote
from ratings.models import ContenderRating, RatingMatrix, RatingSnapshot
from ratings.services import ratings_history_thin, ratings_rebuild, ratings_refresh, ratings_refresh_locked
from tests.factories import CategoryFactory, ContenderFactory, VoteFactory

pytestmark = pytest.mark.django_db


def board(snapshot: RatingSnapshot) -> dict[str, tuple]:
    return {
        row.contender.name: (
            round(row.bt_rating, 6),
            round(row.elo, 6),
            row.wins,
            row.losses,
            row.ties,
            row.rank,
        )
        for row in snapshot.ratings.select_related("contender")
    }


def three_contenders_in_two_categories():
    first, second, third = (ContenderFactory(name=name) for name in ("first", "second", "third"))
    code, writing = CategoryFactory(code="CODE"), CategoryFactory(code="WRITING")
    for _ in range(6):
        VoteFactory(contender_a=first, contender_b=second, outcome="a", category=code)
        VoteFactory(contender_a=second, contender_b=third, outcome="a", category=writing)
    VoteFactory(contender_a=third, contender_b=first, outcome="tie", category=writing)
    VoteFactory(contender_a=first, contender_b=third, outcome="both_bad", category=None)
    return (first, second, third), (code, writing)


def test_each_category_has_its_own_board(settings):
    settings.ARENA_PRELIMINARY_VOTES = 10
    _, (code, writing) = three_contenders_in_two_categories()
    ratings_refresh_locked(categories=True)
    overall = RatingSnapshot.objects.get(category__isnull=True)
    assert overall.vote_count == 14
    code_board = RatingSnapshot.objects.get(category=code)
    assert code_board.vote_count == 6 and set(board(code_board)) == {"first", "second"}
    writing_board = RatingSnapshot.objects.get(category=writing)
    assert writing_board.vote_count == 7 and set(board(writing_board)) == {"second", "third", "first"}
    second_overall = ContenderRating.objects.get(snapshot=overall, contender__name="second")
    assert (second_overall.votes, second_overall.wins, second_overall.losses) == (12, 6, 6)
    assert not second_overall.preliminary
    assert ContenderRating.objects.get(snapshot=code_board, contender__name="first").preliminary  # 6 < 10
    out = StringIO()
    call_command("leaderboard", "--json", "--category", "CODE", stdout=out)
    assert '"name": "first"' in out.getvalue() and '"name": "third"' not in out.getvalue()


def test_rebuild_from_the_votes_gives_the_same_board_as_the_incremental_path():
    three_contenders_in_two_categories()
    incremental = board(ratings_refresh())
    rebuilt = ratings_rebuild()
    assert board(rebuilt) == incremental
    out = StringIO()
    call_command("ratings_rebuild", stdout=out)
    assert out.getvalue().startswith("rebuilt from 14 votes in ")


def test_snapshot_records_parameters_matrices_and_how_long_votes_took_to_arrive():
    three_contenders_in_two_categories()
    snapshot = ratings_refresh()
    assert snapshot.parameters["bootstrap_rounds"] == 1000 and snapshot.parameters["gradient_norm"] <= 1e-8
    # From the first vote recorded to the snapshot; the refresh as a whole includes the fit.
    first_recorded = Vote.objects.aggregate(first=Min("recorded_at"))["first"]
    assert snapshot.vote_lag_ms == round((snapshot.created_at - first_recorded).total_seconds() * 1000)
    assert snapshot.duration_ms >= snapshot.parameters["fit_ms"]
    matrices = RatingMatrix.objects.get(snapshot=snapshot)
    assert len(matrices.contender_ids) == 3
    index = {contender_id: position for position, contender_id in enumerate(matrices.contender_ids)}
    rows = {
        row.contender.name: index[row.contender_id] for row in snapshot.ratings.select_related("contender")
    }
    assert matrices.battle_counts[rows["first"]][rows["second"]] == 6
    assert matrices.win_rates[rows["first"]][rows["second"]] == 1.0
    assert matrices.win_rates[rows["first"]][rows["first"]] is None
    predicted = matrices.predicted_win_rates
    assert predicted[rows["first"]][rows["second"]] + predicted[rows["second"]][
        rows["first"]
    ] == pytest.approx(1)


def test_history_is_thinned_to_a_snapshot_a_minute_today_and_one_a_day_before():
    three_contenders_in_two_categories()
    now = timezone.now().replace(hour=12, minute=0, second=30, microsecond=0)  # days apart stay apart
    moments = [
        now - dt.timedelta(seconds=5),
        now - dt.timedelta(seconds=20),  # the same minute: keep the later
        now - dt.timedelta(hours=3),
        now - dt.timedelta(days=3, hours=1),
        now - dt.timedelta(days=3, hours=2),  # one day: keep the later
        now - dt.timedelta(days=9),
    ]
    created = []
    for moment in moments:
        snapshot = ratings_refresh(force=True)
        RatingSnapshot.objects.filter(pk=snapshot.pk).update(created_at=moment)
        created.append(snapshot.pk)
    assert ratings_history_thin(now=now) == 2
    kept = set(RatingSnapshot.objects.values_list("pk", flat=True))
    assert kept == {created[0], created[2], created[3], created[5]}
    # Matrices stay only with the newest few snapshots; the rows stay with every kept one.
    assert set(RatingMatrix.objects.values_list("snapshot_id", flat=True)) == {
        created[0],
        created[2],
        created[3],
    }
    assert ContenderRating.objects.filter(snapshot_id=created[5]).count() == 3
