"""Write paths of the ratings: counters, Elo, refreshes and snapshots, battle-log export."""

from ratings.services.counters import pair_counts_add, pair_counts_load, pair_counts_rebuild
from ratings.services.elo import elo_ratings
from ratings.services.refresh import (
    REFRESH_LOCK,
    REFRESH_QUEUED_KEY,
    ratings_history_thin,
    ratings_rebuild,
    ratings_recount_request,
    ratings_refresh,
    ratings_refresh_locked,
    ratings_refresh_request,
)
from ratings.services.votes import votes_recorded

__all__ = [
    "REFRESH_LOCK",
    "REFRESH_QUEUED_KEY",
    "elo_ratings",
    "pair_counts_add",
    "pair_counts_load",
    "pair_counts_rebuild",
    "ratings_history_thin",
    "ratings_rebuild",
    "ratings_recount_request",
    "ratings_refresh",
    "ratings_refresh_locked",
    "ratings_refresh_request",
    "votes_recorded",
]
