"""Online Elo, kept up to date incrementally: only the votes after the watermark are applied.

Elo depends on the order of the votes, so it is computed in time order. A vote that lands behind
the watermark — an imported battle log cast long ago, or a vote whose transaction committed after
a later one — cannot be slotted in. The count tells: the votes applied so far plus those after the
watermark must equal the counters' total (read in the same transaction); if not, Elo is computed
again from the first vote, which gives exactly what a full rebuild gives.
"""

import numpy as np
from django.db import transaction

from ratings import algorithms
from ratings.models import ALL_CATEGORIES, EloRating, RatingsState
from ratings.services.vote_log import VoteLog, dense_index, votes_after, votes_in_time_order

EloByCategory = dict[int, dict[int, float]]


def _apply(stored: EloByCategory, votes: VoteLog) -> EloByCategory:
    """The ratings after applying the votes, starting from the stored ones (or 1000)."""
    if not len(votes):
        return stored
    side_a = np.frombuffer(votes.side_a, dtype=np.int64)
    side_b = np.frombuffer(votes.side_b, dtype=np.int64)
    category_key = np.frombuffer(votes.category_key, dtype=np.int64)
    score = algorithms.score_of_outcome(np.frombuffer(votes.outcome, dtype=np.int8).astype(np.int64))
    contender_ids, positions = dense_index(np.concatenate([side_a, side_b]))
    index_a, index_b = positions[: len(side_a)], positions[len(side_a) :]
    result = {key: dict(ratings) for key, ratings in stored.items()}
    for key in [ALL_CATEGORIES, *sorted(set(np.unique(category_key).tolist()) - {ALL_CATEGORIES})]:
        chosen = slice(None) if key == ALL_CATEGORIES else category_key == key
        previous = result.setdefault(key, {})
        start = np.array([previous.get(int(cid), algorithms.ELO_INITIAL) for cid in contender_ids])
        ratings = algorithms.online_elo(
            index_a[chosen], index_b[chosen], score[chosen], contender_count=len(contender_ids), start=start
        )
        appeared = np.zeros(len(contender_ids), dtype=bool)
        appeared[index_a[chosen]] = True
        appeared[index_b[chosen]] = True
        for position in np.flatnonzero(appeared):
            previous[int(contender_ids[position])] = float(ratings[position])
    return result


def _stored() -> EloByCategory:
    stored: EloByCategory = {}
    for key, contender_id, rating in EloRating.objects.values_list("category_key", "contender_id", "rating"):
        stored.setdefault(key, {})[contender_id] = rating
    return stored


def elo_ratings(*, vote_total: int, from_scratch: bool = False) -> EloByCategory:
    """Online Elo per category key (ALL_CATEGORIES for the overall board), over `vote_total` votes.

    `vote_total` is the number of votes there are, read in the caller's transaction (the counters'
    total); the Elo state must end up covering exactly that many.
    """
    with transaction.atomic():
        state = RatingsState.objects.select_for_update().first() or RatingsState.objects.create()
        if not from_scratch and state.elo_vote_count == vote_total:
            return _stored()
        watermark = (state.elo_through_at, state.elo_through_id) if state.elo_through_at else None
        if not from_scratch and watermark is not None:
            votes = votes_after(watermark)
            if state.elo_vote_count + len(votes) == vote_total:
                return _store(state, _stored(), state.elo_vote_count, votes)
        return _store(state, {}, 0, votes_in_time_order())


def elo_rebuild(votes: VoteLog) -> EloByCategory:
    """Online Elo computed again from these votes: all of them, oldest first."""
    with transaction.atomic():
        state = RatingsState.objects.select_for_update().first() or RatingsState.objects.create()
        return _store(state, {}, 0, votes)


def _store(state: RatingsState, stored: EloByCategory, total: int, votes: VoteLog) -> EloByCategory:
    """Apply the votes to the stored ratings (none: from the start) and save ratings and watermark."""
    ratings = _apply(stored, votes)
    rows = [
        EloRating(category_key=key, contender_id=contender_id, rating=rating)
        for key, by_contender in ratings.items()
        for contender_id, rating in by_contender.items()
    ]
    if not stored:
        EloRating.objects.all().delete()
        EloRating.objects.bulk_create(rows, batch_size=5000)
    elif len(votes):
        EloRating.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["category_key", "contender"],
            update_fields=["rating"],
        )
    if votes.last is not None:
        state.elo_through_at, state.elo_through_id = votes.last
    state.elo_max_vote_id = max(state.elo_max_vote_id if stored else 0, votes.max_id)
    state.elo_vote_count = total + len(votes)
    state.save()
    return ratings
