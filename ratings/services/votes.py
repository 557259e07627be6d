"""The one door from battles into ratings: what battles calls when votes are recorded."""

from battles.models import Vote
from ratings.services.counters import pair_counts_add
from ratings.services.refresh import ratings_refresh_request


def votes_recorded(*, votes: list[Vote], counted: bool = False) -> None:
    """Votes were recorded: count them in the pair counters, in their own transaction (unless the
    statement that stored them counted them already, with counters.pair_counts_counting), and ask for
    a refresh once that transaction commits."""
    if not counted:
        pair_counts_add(votes=votes)
    ratings_refresh_request()
