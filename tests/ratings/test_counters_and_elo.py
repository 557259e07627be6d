"""Counters and online Elo kept as votes arrive equal a full rebuild from the vote table."""

import datetime as dt

import numpy as np
import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from battles.models import Vote
from battles.services.serving import battle_serve
from battles.services.voting import vote_cast
from ratings import algorithms
from ratings.models import ALL_CATEGORIES, EloRating, PairCount, RatingsState
from ratings.services import elo_ratings, pair_counts_add, pair_counts_rebuild
from tests.factories import BattleFactory, CategoryFactory, ContenderFactory, VoterFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def counters() -> dict[tuple[int, int, int, int], int]:
    return {
        (row.category_key, row.contender_a_id, row.contender_b_id, row.outcome): row.count
        for row in PairCount.objects.filter(count__gt=0)
    }


def elo_table() -> dict[tuple[int, int], float]:
    return {(row.category_key, row.contender_id): row.rating for row in EloRating.objects.all()}


def test_a_vote_counts_in_its_category_and_in_all_categories():
    voter = VoterFactory()
    battle = BattleFactory()
    battle_serve(voter=voter)
    vote_cast(battle_id=battle.pk, voter=voter, outcome="both_bad")
    category = battle.question.category_id
    cell = (battle.contender_a_id, battle.contender_b_id, algorithms.OUTCOME_BOTH_BAD)
    assert counters() == {(ALL_CATEGORIES, *cell): 1, (category, *cell): 1}


def test_votes_without_a_category_count_only_in_all_categories():
    first, second = ContenderFactory(), ContenderFactory()
    with transaction.atomic():
        votes = [Vote.objects.create(contender_a=first, contender_b=second, outcome="a") for _ in range(3)]
        pair_counts_add(votes=votes)
    assert counters() == {(ALL_CATEGORIES, first.pk, second.pk, algorithms.OUTCOME_A): 3}


vote_steps = st.lists(
    st.tuples(
        st.integers(0, 3),  # contender A
        st.integers(1, 3),  # B = A + this, modulo 4
        st.sampled_from(["a", "b", "tie", "both_bad"]),
        st.sampled_from([None, 0, 1]),  # category
        st.integers(-50, 500),  # seconds after T0: negative ones land behind the watermark, like imports
        st.booleans(),  # refresh the Elo after this vote?
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=vote_steps)
def test_incremental_counters_and_elo_equal_a_full_rebuild(steps):
    Vote.objects.all().delete()
    PairCount.objects.all().delete()
    EloRating.objects.all().delete()
    RatingsState.objects.all().delete()
    contenders = [ContenderFactory() for _ in range(4)]
    categories = [CategoryFactory(), CategoryFactory()]
    cast = 0
    for a, offset, outcome, category, seconds, refresh in steps:
        with transaction.atomic():
            vote = Vote.objects.create(
                contender_a=contenders[a],
                contender_b=contenders[(a + offset) % 4],
                outcome=outcome,
                category=None if category is None else categories[category],
                created_at=T0 + dt.timedelta(seconds=seconds),
            )
            pair_counts_add(votes=[vote])
        cast += 1
        if refresh:
            elo_ratings(vote_total=cast)
    elo_ratings(vote_total=cast)
    incremental_counters, incremental_elo = counters(), elo_table()

    assert pair_counts_rebuild() == cast
    elo_ratings(vote_total=cast, from_scratch=True)
    assert counters() == incremental_counters
    rebuilt = elo_table()
    assert rebuilt.keys() == incremental_elo.keys()
    for key, rating in rebuilt.items():
        assert incremental_elo[key] == pytest.approx(rating, abs=1e-9)
    # And both equal Elo computed directly from the votes in time order.
    ordered = list(
        Vote.objects.order_by("created_at", "id").values_list("contender_a_id", "contender_b_id", "outcome")
    )
    ids = sorted({c.pk for c in contenders})
    index = {contender_id: position for position, contender_id in enumerate(ids)}
    codes = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}
    direct = algorithms.online_elo(
        np.array([index[row[0]] for row in ordered]),
        np.array([index[row[1]] for row in ordered]),
        algorithms.score_of_outcome(np.array([codes[row[2]] for row in ordered])),
        contender_count=len(ids),
    )
    for contender_id, position in index.items():
        if (ALL_CATEGORIES, contender_id) in rebuilt:
            assert rebuilt[(ALL_CATEGORIES, contender_id)] == pytest.approx(direct[position], abs=1e-9)
